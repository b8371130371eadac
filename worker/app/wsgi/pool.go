package wsgi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/arbiter/logging"
	"github.com/arbiter-dev/arbiter/internal/procfs"
	"github.com/arbiter-dev/arbiter/ipc"
)

// Errors acquire returns.
var (
	// errUnavailable: no app process is ready and the last one to start
	// failed: the request gets 503 at once rather than waiting.
	errUnavailable = errors.New("no app process is available")
	errClosed      = errors.New("the app is shutting down")
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

type procState int

const (
	starting  procState = iota // spawned, not READY yet
	ready                      // serving
	recycling                  // serving until a replacement is ready (max_requests, max_memory)
	draining                   // no new requests; closed once idle
	killing                    // being killed (request_timeout, protocol error)
	dead                       // exited
)

func (s procState) String() string {
	return [...]string{"starting", "ready", "recycling", "draining", "killing", "dead"}[s]
}

// proc is one app process. id and start never change; pid, forked, slots
// and fds are set under pool.mu before the goroutines that use them start;
// the fields after them are guarded by pool.mu.
type proc struct {
	id     int
	pid    int
	forked bool // by the zygote, which reaps it; else the worker reaps it
	slots  []*slot
	fds    *childFDs
	start  time.Time

	state      procState
	busy       int
	requests   uint64
	limit      uint64 // max_requests with its jitter; 0 = none
	killedFor  string // why the pool killed it (request_timeout, ...)
	dumpTo     chan string
	exitTimer  *time.Timer
	exited     chan struct{} // closed when it has exited
	exitStatus syscall.WaitStatus
	rss        int64

	captureOnce sync.Once
}

// slot is one thread of a process, with its own socket. Its fields after rd
// are guarded by pool.mu; rd is used by the request holding the slot.
type slot struct {
	p   *proc
	c   *net.UnixConn
	rd  *frameReader
	seq uint64
	use bool
}

// pool runs the app processes of one WSGI app in a worker and lends their
// slots to requests.
type pool struct {
	cfg     Config
	log     zerolog.Logger
	env     []string
	runner  int
	devnull *os.File
	sp      *spawner
	free    chan *slot
	closed  chan struct{}
	kick    chan struct{}

	mu       sync.Mutex
	procs    map[int]*proc // by id, until reaped
	byPID    map[int]*proc
	nextID   int
	zyg      *zygote
	closing  bool
	booting  bool
	bootErr  chan error // the first boot's outcome
	failures int        // boot failures in a row
	lastErr  error
	retryAt  time.Time
	broken   chan struct{}     // closed while nothing is ready after a failed start
	outputs  map[*os.File]bool // pipes being read: stderr and dumps
	wg       sync.WaitGroup
}

// nextLimit is a process's max_requests with its jitter.
func (p *pool) nextLimit() uint64 {
	if p.cfg.MaxRequests <= 0 {
		return 0
	}
	n := p.cfg.MaxRequests
	if p.cfg.MaxRequestsJitter > 0 {
		n += rand.IntN(p.cfg.MaxRequestsJitter + 1)
	}
	return uint64(n)
}

// acquire lends a free slot of a serving process, waiting for one as long as
// ctx lasts. Slots come in the order they were freed, so the processes
// share the load.
func (p *pool) acquire(ctx context.Context) (*slot, error) {
	for {
		p.mu.Lock()
		broken := p.broken
		p.mu.Unlock()
		select {
		case s := <-p.free:
			p.mu.Lock()
			if (s.p.state == ready || s.p.state == recycling) && !s.use {
				s.use = true
				s.seq++
				s.p.busy++
				p.mu.Unlock()
				return s, nil
			}
			p.mu.Unlock() // a slot of a process that stopped serving
		case <-broken:
			p.mu.Lock()
			err := p.lastErr
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", errUnavailable, err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.closed:
			return nil, errClosed
		}
	}
}

// release gives a slot back after a request. broken means its socket can no
// longer be used (an unreadable frame, or the process went away), so the
// process is killed; why, when not "", is logged.
func (p *pool) release(s *slot, broken bool, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := s.p
	s.use = false
	pr.busy--
	pr.requests++
	if broken && pr.state < killing {
		p.killLocked(pr, why, "")
		return
	}
	switch pr.state {
	case ready, recycling:
		if pr.state == ready && pr.limit > 0 && pr.requests >= pr.limit {
			p.recycleLocked(pr, fmt.Sprintf("served %d requests (max_requests)", pr.requests))
		}
		p.free <- s // never blocks: the channel holds every slot there can be
	case draining:
		if pr.busy == 0 {
			p.closeLocked(pr)
		}
	}
}

// recycleLocked starts a replacement for pr, which serves until the
// replacement is ready.
func (p *pool) recycleLocked(pr *proc, why string) {
	pr.state = recycling
	p.log.Info().Int("pid", pr.pid).Str("why", why).Msg("recycling app process; the replacement starts first")
	p.wake()
}

// closeLocked closes a process's sockets: it sees end of file and exits.
// SIGKILL follows if it is still there after exitGrace.
func (p *pool) closeLocked(pr *proc) {
	if pr.exitTimer != nil {
		return
	}
	for _, s := range pr.slots {
		s.c.Close()
	}
	pid, exited := pr.pid, pr.exited
	pr.exitTimer = time.AfterFunc(exitGrace, func() {
		select {
		case <-exited:
		default:
			p.log.Warn().Int("pid", pid).Dur("after", exitGrace).Msg("app process did not exit after its sockets closed; killing it")
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// killLocked kills pr at once, after a traceback of its threads when dump
// is set (the request it describes ran past request_timeout).
func (p *pool) killLocked(pr *proc, why, dump string) {
	pr.state = killing
	pr.killedFor = why
	p.wake()
	if pr.pid <= 0 {
		return
	}
	if dump == "" {
		if why != "" {
			p.log.Error().Int("pid", pr.pid).Str("why", why).Msg("killing app process")
		}
		_ = syscall.Kill(pr.pid, syscall.SIGKILL)
		return
	}
	ch := make(chan string, 1)
	pr.dumpTo = ch
	pid := pr.pid
	go func() {
		_ = syscall.Kill(pid, syscall.SIGUSR2)
		ev := p.log.Error().Int("pid", pid).Str("request", dump).Str("why", why)
		select {
		case tb := <-ch:
			ev = ev.Str("traceback", tb)
		case <-time.After(dumpWait):
			ev = ev.Str("traceback", fmt.Sprintf("(none: the process did not answer SIGUSR2 within %s)", dumpWait))
		}
		ev.Msg("request ran past request_timeout; killing the app process")
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}()
}

// timeout is request_timeout's timer for the request seq on s.
func (p *pool) timeout(s *slot, seq uint64, request string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !s.use || s.seq != seq || s.p.state >= killing {
		return
	}
	p.killLocked(s.p, "request_timeout", request)
}

// timedOut reports whether pr was killed for request_timeout (504, not 502).
func (p *pool) timedOut(pr *proc) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return pr.killedFor == "request_timeout"
}

func (p *pool) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// live counts processes that serve or will: what the pool keeps at
// Processes.
func (p *pool) liveLocked() (live, readyN int) {
	for _, pr := range p.procs {
		switch pr.state {
		case starting:
			live++
		case ready:
			live++
			readyN++
		}
	}
	return live, readyN
}

// supervise keeps the pool at Processes: it starts what is missing (behind
// the back-off after failures), and samples RSS for /status and
// max_memory.
func (p *pool) supervise() {
	defer p.wg.Done()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-p.closed:
			return
		case <-p.kick:
		case <-retry.C:
		case <-tick.C:
			p.sample()
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
			p.zyg = &zygote{state: starting, exited: make(chan struct{})}
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
		pr := &proc{id: p.nextID, state: starting, limit: p.nextLimit(), start: time.Now(), exited: make(chan struct{})}
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

// startProc starts pr, directly or through the zygote.
func (p *pool) startProc(pr *proc, z *zygote) {
	fds, err := newChildFDs(p.cfg.Threads)
	if err != nil {
		p.bootFailed(pr, err)
		return
	}
	slots := make([]*slot, len(fds.slots))
	for i, c := range fds.slots {
		slots[i] = &slot{p: pr, c: c, rd: newFrameReader(c)}
	}
	p.mu.Lock()
	pr.fds, pr.slots, pr.forked = fds, slots, z != nil
	p.mu.Unlock()
	if z != nil {
		err = z.startForked(pr.id, fds)
		fds.closeChild()
	} else {
		var pid int
		pid, err = p.startDirect(fds)
		fds.closeChild()
		if err == nil {
			p.mu.Lock()
			pr.pid = pid
			p.byPID[pid] = pr
			p.mu.Unlock()
			p.wg.Add(1)
			go p.reap(pr)
		}
	}
	if err != nil {
		fds.close()
		p.bootFailed(pr, fmt.Errorf("start %s: %w", p.cfg.Python, err))
		return
	}
	if !pr.forked {
		p.capture(pr) // a forked process's pid comes later
	}
	p.wg.Add(2)
	go p.readDumps(pr)
	go p.awaitReady(pr)
}

// reap waits for a process the worker started itself.
func (p *pool) reap(pr *proc) {
	defer p.wg.Done()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pr.pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	p.exited(pr, ws)
}

// capture logs the process's output.
// It starts once the pid is known (the zygote's SPAWNED, READY, or the
// exit of a process that never said either), so that lines carry it; the
// pipe holds what comes before.
func (p *pool) capture(pr *proc) {
	pr.captureOnce.Do(func() {
		p.mu.Lock()
		pid := pr.pid
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.readOutput(pr.fds.stderr, p.log.With().Int("pid", pid).Logger())
		}()
	})
}

// readOutput logs what a process writes to stdout and stderr (print,
// wsgi.errors, the logging module, a crash's traceback), a burst of lines
// as one event, until end of file.
func (p *pool) readOutput(f *os.File, log zerolog.Logger) {
	p.track(f)
	defer p.untrack(f)
	logging.Capture(f, os.Stderr, log, 100*time.Millisecond)
}

// track and untrack keep the pipes being read, for close to cut off.
func (p *pool) track(f *os.File) {
	p.mu.Lock()
	p.outputs[f] = true
	p.mu.Unlock()
}

func (p *pool) untrack(f *os.File) {
	p.mu.Lock()
	delete(p.outputs, f)
	p.mu.Unlock()
	f.Close()
}

// readDumps reads the dump pipe: faulthandler's traceback of every thread,
// ended by a 0x0c byte. A dump the pool asked for goes to the waiting kill;
// another (an operator's kill -USR2) is logged.
func (p *pool) readDumps(pr *proc) {
	defer p.wg.Done()
	p.track(pr.fds.dump)
	defer p.untrack(pr.fds.dump)
	var acc []byte
	buf := make([]byte, 16<<10)
	for {
		n, err := pr.fds.dump.Read(buf)
		for _, c := range buf[:n] {
			if c != byte(syscall.SIGUSR2) {
				if len(acc) < 4<<20 {
					acc = append(acc, c)
				}
				continue
			}
			tb := string(acc)
			acc = acc[:0]
			p.mu.Lock()
			ch := pr.dumpTo
			pr.dumpTo = nil
			pid := pr.pid
			p.mu.Unlock()
			if ch != nil {
				ch <- tb
			} else {
				p.log.Warn().Int("pid", pid).Str("traceback", tb).Msg("traceback of every thread (SIGUSR2)")
			}
		}
		if err != nil {
			return
		}
	}
}

// awaitReady waits for the first frame on the first slot: READY, or
// BOOT_ERROR with the import's traceback.
func (p *pool) awaitReady(pr *proc) {
	defer p.wg.Done()
	rd := pr.slots[0].rd
	kind, n, err := rd.header()
	var payload []byte
	if err == nil {
		payload, err = rd.payload(n)
	}
	switch {
	case err != nil:
		<-pr.exited
		p.capture(pr)
		p.bootFailed(pr, fmt.Errorf("the app process exited before it was ready: %s", p.exitText(pr)))
	case kind == frameReady:
		var m struct {
			PID    int    `json:"pid"`
			Python string `json:"python"`
		}
		if err := jsonUnmarshal(payload, &m); err != nil || m.PID <= 0 {
			p.bootFailed(pr, fmt.Errorf("%w: bad READY %q", errProtocol, payload))
			return
		}
		p.ready(pr, m.PID)
		p.capture(pr)
	case kind == frameBootError:
		p.capture(pr)
		p.bootFailed(pr, bootError(payload, p.cfg.Module))
	default:
		p.capture(pr)
		p.bootFailed(pr, fmt.Errorf("%w: frame %q before READY", errProtocol, kind))
	}
}

// ready puts a process that said READY into service; a recycled process it
// replaces stops taking requests.
func (p *pool) ready(pr *proc, pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr.state != starting {
		return
	}
	if pr.pid == 0 {
		pr.pid = pid
		p.byPID[pid] = pr
	}
	pr.state = ready
	p.failures, p.lastErr, p.retryAt = 0, nil, time.Time{}
	select {
	case <-p.broken:
		p.broken = make(chan struct{})
	default:
	}
	for _, s := range pr.slots {
		p.free <- s
	}
	p.log.Debug().Int("pid", pr.pid).Dur("boot", time.Since(pr.start)).Msg("app process ready")
	_, readyN := p.liveLocked()
	if readyN >= p.cfg.Processes {
		for {
			old := p.oldestLocked(recycling)
			if old == nil {
				break
			}
			old.state = draining
			if old.busy == 0 {
				p.closeLocked(old)
			}
		}
		if p.booting {
			p.booting = false
			p.bootErr <- nil
		}
	}
}

func (p *pool) oldestLocked(st procState) *proc {
	var o *proc
	for _, pr := range p.procs {
		if pr.state == st && (o == nil || pr.id < o.id) {
			o = pr
		}
	}
	return o
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

// exited handles the end of a process: its requests in flight fail (their
// reads see the closed socket), and a replacement starts unless it was
// meant to go.
func (p *pool) exited(pr *proc, ws syscall.WaitStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr.state == dead {
		return
	}
	was := pr.state
	pr.state = dead
	close(pr.exited)
	pr.exitStatus = ws
	if pr.exitTimer != nil {
		pr.exitTimer.Stop()
	}
	for _, s := range pr.slots {
		s.c.Close()
	}
	p.forgetLocked(pr)
	switch {
	case p.closing || was == draining || pr.killedFor == "boot":
		p.log.Debug().Int("pid", pr.pid).Str("status", waitText(ws)).Msg("app process exited")
	case was == starting:
		// awaitReady reports it.
	case pr.killedFor != "":
		p.log.Warn().Int("pid", pr.pid).Str("why", pr.killedFor).Str("status", waitText(ws)).Msg("app process killed; starting a replacement")
	default:
		ev := p.log.Error().Int("pid", pr.pid).Str("status", waitText(ws)).Int("in_flight", pr.busy)
		if ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			ev = ev.Str("hint", "killed by someone else; out of memory?")
		}
		ev.Msg("app process died; starting a replacement")
	}
	p.wake()
}

func (p *pool) forgetLocked(pr *proc) {
	delete(p.procs, pr.id)
	if pr.pid > 0 && p.byPID[pr.pid] == pr {
		delete(p.byPID, pr.pid)
	}
}

// exitText describes how an exited process ended.
func (p *pool) exitText(pr *proc) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return waitText(pr.exitStatus)
}

func waitText(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// sample reads each process's RSS and recycles one over max_memory.
func (p *pool) sample() {
	p.mu.Lock()
	pids := make(map[*proc]int, len(p.procs))
	for _, pr := range p.procs {
		if pr.pid > 0 && pr.state < killing {
			pids[pr] = pr.pid
		}
	}
	p.mu.Unlock()
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

// stats describes the processes for the worker's heartbeat.
func (p *pool) stats() []ipc.AppProcess {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ipc.AppProcess, 0, len(p.procs))
	for _, pr := range p.procs {
		st := pr.state.String()
		if pr.state == ready {
			st = "idle"
			if pr.busy > 0 {
				st = "busy"
			}
		}
		out = append(out, ipc.AppProcess{PID: pr.pid, State: st, Busy: pr.busy, Threads: len(pr.slots),
			Requests: pr.requests, RSS: pr.rss, AgeSeconds: time.Since(pr.start).Seconds()})
	}
	return out
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
