package wsgi

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// Timings that are not configurable.
const (
	// exitGrace is how long a process whose sockets were closed may take to
	// exit (atexit handlers) before it gets SIGKILL.
	exitGrace = 5 * time.Second
	// dumpWait bounds the wait for a traceback after SIGUSR2.
	dumpWait = 2 * time.Second
	// sampleEvery is how often the pool reads each process's RSS.
	sampleEvery = time.Second
	maxBackoff  = 10 * time.Second
)

// supervise keeps the pool at Processes: it starts what is missing (behind
// the back-off after failures), and samples RSS for /status and
// max_memory.
func (p *pool) supervise() {
	defer p.wg.Done()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	var sweep <-chan time.Time
	if d := sweepEvery(p.cfg); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		sweep = t.C
	}
	for {
		select {
		case <-p.closed:
			return
		case <-p.kick:
		case <-retry.C:
		case <-tick.C:
			p.sample()
		case now := <-sweep:
			p.sweep(now)
			continue
		}
		if d := p.manage(); d > 0 {
			retry.Reset(d)
		}
	}
}

// manage starts the processes that are missing. It returns how long to wait
// before trying again after a failure, or 0.
func (p *pool) manage() time.Duration {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return 0
	}
	if wait := time.Until(p.retryAt); wait > 0 {
		p.mu.Unlock()
		return wait
	}
	if p.cfg.Preload && (p.zyg == nil || p.zyg.state != ready) {
		if p.zyg == nil {
			p.zyg = &zygote{state: starting, exited: make(chan struct{}), readDone: make(chan struct{})}
			z := p.zyg
			p.mu.Unlock()
			p.startZygote(z)
			return 0
		}
		p.mu.Unlock()
		return 0 // wait for it
	}
	live, _ := p.liveLocked()
	var todo []*proc
	for ; live < p.cfg.Processes; live++ {
		p.nextID++
		pr := &proc{id: p.nextID, state: starting, limit: p.nextLimit(), start: time.Now(),
			exited: make(chan struct{}), firstRead: make(chan struct{})}
		p.procs[pr.id] = pr
		todo = append(todo, pr)
	}
	z := p.zyg
	p.mu.Unlock()
	for _, pr := range todo {
		p.startProc(pr, z)
	}
	return 0
}

// bootFailed handles a process that did not become ready: during the first
// boot the app does not load (the worker exits 4); later the pool retries
// with a growing back-off, and requests get 503 while nothing serves.
func (p *pool) bootFailed(pr *proc, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr != nil && pr.state < killing {
		if pr.state == starting && pr.pid > 0 {
			_ = syscall.Kill(pr.pid, syscall.SIGKILL)
		}
		pr.state = killing
		pr.killedFor = "boot"
		if pr.pid <= 0 {
			p.forgetLocked(pr)
		}
	}
	if p.closing {
		return
	}
	if p.booting {
		p.booting = false
		p.bootErr <- err
		return
	}
	p.failures++
	p.lastErr = err
	d := min(100*time.Millisecond<<min(p.failures-1, 10), maxBackoff)
	p.retryAt = time.Now().Add(d)
	var tb string
	var be *appLoadError
	if errors.As(err, &be) {
		tb = be.Traceback
	}
	p.log.Error().Err(err).Str("traceback", tb).Int("failures", p.failures).Dur("retry_in", d).Msg("app process failed to start")
	if _, readyN := p.liveLocked(); readyN == 0 {
		select {
		case <-p.broken:
		default:
			close(p.broken)
		}
	}
	p.wake()
}

// sweepEvery is how often the pool looks for requests past
// request_timeout or slow_request_log: a tenth of the shorter of the two,
// from 10 ms to a second (a 30 s request_timeout fires within 30-31 s).
// 0: neither is on. One ticker per pool costs a request nothing, where a
// timer per request cost two timer-heap changes each.
func sweepEvery(c Config) time.Duration {
	d := c.RequestTimeout
	if slowLogOn(c) { // below request_timeout, or without one
		d = c.SlowRequestLog
	}
	if d <= 0 {
		return 0
	}
	return min(max(d/10, 10*time.Millisecond), time.Second)
}

// slowLogOn: slow_request_log is set and below request_timeout, whose own
// line has the traceback.
func slowLogOn(c Config) bool {
	return c.SlowRequestLog > 0 && (c.RequestTimeout == 0 || c.SlowRequestLog < c.RequestTimeout)
}

// sweep kills the process of every request that has been in it for
// request_timeout (the client gets 504), and starts the slow_request_log
// line, once, for every request in its process longer than that. A
// process already being killed is left alone.
func (p *pool) sweep(now time.Time) {
	type late struct {
		s       *slot
		seq     uint64
		request string
		began   time.Time
	}
	var slow []late
	p.mu.Lock()
	for _, pr := range p.procs {
		for _, s := range pr.slots {
			if !s.use || s.req == nil || pr.state >= killing {
				continue
			}
			in := now.Sub(s.began)
			switch {
			case p.cfg.RequestTimeout > 0 && in >= p.cfg.RequestTimeout:
				p.killLocked(pr, "request_timeout", reqInfo(s.req))
			case slowLogOn(p.cfg) && !s.slowLogged && in >= p.cfg.SlowRequestLog:
				s.slowLogged = true
				slow = append(slow, late{s, s.seq, reqInfo(s.req), s.began})
			}
		}
	}
	p.mu.Unlock()
	for _, l := range slow {
		go p.slow(l.s, l.seq, l.request, l.began)
	}
}

// slow is slow_request_log's line for the request seq on s, handed to its
// process at start: it logs the request with the traceback of every thread
// of the process, which goes on running. A process already being killed,
// or with a dump under way (the line would wait on another's traceback),
// is left alone.
func (p *pool) slow(s *slot, seq uint64, request string, start time.Time) {
	p.mu.Lock()
	if !s.use || s.seq != seq || s.p.state >= killing || s.p.pid <= 0 || s.p.dumpTo != nil {
		p.mu.Unlock()
		return
	}
	ch := make(chan string, 1)
	s.p.dumpTo = ch
	pid := s.p.pid
	p.mu.Unlock()
	_ = syscall.Kill(pid, syscall.SIGUSR2)
	ev := p.log.Warn().Int("pid", pid).Str("request", request)
	select {
	case tb := <-ch:
		ev = ev.Str("traceback", tb)
	case <-time.After(dumpWait):
		ev = ev.Str("traceback", fmt.Sprintf("(none: the process did not answer SIGUSR2 within %s)", dumpWait))
	}
	ev.Dur("elapsed", time.Since(start)).Msg("slow request")
}

// timedOut reports whether pr was killed for request_timeout (504, not 502).
func (p *pool) timedOut(pr *proc) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return pr.killedFor == "request_timeout"
}

// sample reads each process's RSS and recycles one over max_memory. It
// also fails a replacement still importing after BootTimeout (the first
// boot is the master's to bound): it is killed, and the pool backs off as
// after any failed start.
func (p *pool) sample() {
	p.mu.Lock()
	pids := make(map[*proc]int, len(p.procs))
	var stuck []*proc
	for _, pr := range p.procs {
		if pr.pid > 0 && pr.state < killing {
			pids[pr] = pr.pid
		}
		if pr.state == starting && pr.pid > 0 && !p.booting && p.cfg.BootTimeout > 0 && time.Since(pr.start) > p.cfg.BootTimeout {
			stuck = append(stuck, pr)
		}
	}
	p.mu.Unlock()
	for _, pr := range stuck {
		p.bootFailed(pr, fmt.Errorf("app process %d did not become ready within %v (timeout); is the app's import stuck?", pr.pid, p.cfg.BootTimeout))
	}
	rss := make(map[*proc]int64, len(pids))
	for pr, pid := range pids {
		rss[pr] = procfs.RSS(pid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr, v := range rss {
		pr.rss = v
		if p.cfg.MaxMemory > 0 && v > p.cfg.MaxMemory && pr.state == ready {
			p.recycleLocked(pr, fmt.Sprintf("RSS %d MiB is over max_memory (%d MiB)", v>>20, p.cfg.MaxMemory>>20))
		}
	}
}

// close ends the pool: every process's sockets close (a process still
// importing is killed), each gets exitGrace to exit, then SIGKILL; the
// zygote goes last. It returns when every process is reaped and every
// goroutine of the pool is done.
func (p *pool) close() {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return
	}
	p.closing = true
	close(p.closed)
	var waits []chan struct{}
	for _, pr := range p.procs {
		waits = append(waits, pr.exited)
		if pr.state == starting && pr.pid > 0 {
			_ = syscall.Kill(pr.pid, syscall.SIGKILL)
		}
		p.closeLocked(pr)
	}
	z := p.zyg
	p.mu.Unlock()
	for _, w := range waits {
		<-w
	}
	if z != nil {
		p.mu.Lock()
		ctl, pid := z.ctl, z.pid
		p.mu.Unlock()
		if ctl != nil {
			ctl.Close() // the zygote exits at end of file
		}
		select {
		case <-z.exited:
		case <-time.After(exitGrace):
			if pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			<-z.exited
		}
	}
	// Output readers end at end of file, which a grandchild holding the
	// pipe could delay for ever: give them a moment, then cut them off.
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		p.mu.Lock()
		for f := range p.outputs {
			f.Close()
		}
		p.mu.Unlock()
		<-done
	}
	p.sp.stop()
	unix.Close(p.runner)
	p.devnull.Close()
}
