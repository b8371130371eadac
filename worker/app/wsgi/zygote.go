package wsgi

import (
	"fmt"
	"net"
	"sync"
	"syscall"
)

// zygote is the process that imports the app once when preload is set and
// forks every serving process from itself: a replacement is ready in
// milliseconds, and the processes share the memory the import filled. It
// reaps its children and reports their exits. When it dies, its children
// die too (their parent-death signal): the pool starts a new zygote, and
// from it new children. Fields but ctl and wmu are guarded by pool.mu.
type zygote struct {
	state  procState // starting, ready, dead
	pid    int
	ctl    *net.UnixConn
	wmu    sync.Mutex // serializes SPAWN frames
	failed bool       // a boot failure was reported already
	exited chan struct{}
	// readDone is closed when readZygote has returned.
	readDone chan struct{}
}

// startZygote starts z, which reports READY once the app is imported.
func (p *pool) startZygote(z *zygote) {
	ctl, childCtl, err := socketPair()
	if err != nil {
		p.zygoteFailed(z, err)
		return
	}
	stderr, childStderr, err := pipe("wsgi-zygote-stderr")
	if err != nil {
		ctl.Close()
		syscall.Close(childCtl)
		p.zygoteFailed(z, err)
		return
	}
	rc := p.runnerConfig("zygote")
	rc.Ctl = 4
	pid, err := p.sp.start(p.cfg.Python, p.argv("zygote"), p.processAttr(rc, childStderr, []int{childCtl}))
	syscall.Close(childCtl)
	syscall.Close(childStderr)
	if err != nil {
		ctl.Close()
		stderr.Close()
		p.zygoteFailed(z, fmt.Errorf("start %s: %w", p.cfg.Python, err))
		return
	}
	p.mu.Lock()
	z.pid, z.ctl = pid, ctl
	p.mu.Unlock()
	p.wg.Add(3)
	go func() {
		defer p.wg.Done()
		p.readOutput(stderr, p.log.With().Int("pid", pid).Str("role", "zygote").Logger())
	}()
	go p.reapZygote(z)
	go p.readZygote(z)
}

// reapZygote waits for the zygote to exit. Its last reports (a
// BOOT_ERROR, its children's exits) may still be in the socket: they are
// read to the end of file first, or for at most exitGrace (a grandchild
// the app forked can keep the socket open).
func (p *pool) reapZygote(z *zygote) {
	defer p.wg.Done()
	ws := wait4(z.pid)
	waitAtMost(z.readDone, exitGrace)
	p.zygoteExited(z, ws)
}

// readZygote reads the zygote's reports until it closes its socket.
func (p *pool) readZygote(z *zygote) {
	defer p.wg.Done()
	defer close(z.readDone)
	rd := newFrameReader(z.ctl)
	defer rd.recycle()
	defer rd.closeFDs()
	for {
		kind, n, err := rd.header()
		var payload []byte
		if err == nil {
			payload, err = rd.payload(n)
		}
		if err != nil {
			return // the zygote exited, or the pool closed the socket
		}
		switch kind {
		case frameReady:
			p.mu.Lock()
			if z.state == starting {
				z.state = ready
			}
			p.mu.Unlock()
			p.log.Debug().Int("pid", z.pid).Msg("app imported by the zygote")
			p.wake()
		case frameBootError:
			p.zygoteFailed(z, bootError(payload, p.cfg.Module))
		case frameSpawned:
			pid, index, err := parseSpawned(payload)
			if err != nil {
				p.zygoteBroke(z, err)
				return
			}
			p.mu.Lock()
			pr := p.procs[index]
			if pr != nil && pr.pid == 0 {
				pr.pid = pid
				p.byPID[pid] = pr
			}
			p.mu.Unlock()
			if pr != nil {
				p.capture(pr)
			}
		case frameExited:
			pid, ws, err := parseExited(payload)
			if err != nil {
				p.zygoteBroke(z, err)
				return
			}
			p.mu.Lock()
			pr := p.byPID[pid]
			p.mu.Unlock()
			if pr != nil {
				p.exited(pr, ws)
			}
		case frameLog:
			p.logFrame(p.log.With().Int("pid", z.pid).Str("role", "zygote").Logger(), payload)
		default:
			p.zygoteBroke(z, fmt.Errorf("%w: frame type %q", errProtocol, kind))
			return
		}
	}
}

// zygoteBroke kills a zygote that broke the protocol; its children die
// with it, and the pool starts it again.
func (p *pool) zygoteBroke(z *zygote, err error) {
	p.log.Error().Int("pid", z.pid).Err(err).Msg("the zygote broke the protocol; killing it")
	_ = syscall.Kill(z.pid, syscall.SIGKILL)
}

// zygoteFailed reports a zygote that could not start or import the app.
func (p *pool) zygoteFailed(z *zygote, err error) {
	p.mu.Lock()
	first := !z.failed
	z.failed = true
	pid := z.pid
	p.mu.Unlock()
	if pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	} else {
		p.zygoteGone(z)
	}
	if first {
		p.bootFailed(nil, err)
	}
}

// zygoteExited handles the zygote's end: every process it forked is gone
// with it.
func (p *pool) zygoteExited(z *zygote, ws syscall.WaitStatus) {
	p.mu.Lock()
	was, failed, closing := z.state, z.failed, p.closing
	var children []*proc
	for _, pr := range p.procs {
		if pr.forked {
			children = append(children, pr)
		}
	}
	p.mu.Unlock()
	z.ctl.Close()
	p.zygoteGone(z)
	for _, pr := range children {
		p.exited(pr, syscall.WaitStatus(syscall.SIGKILL)) // their parent-death signal
	}
	switch {
	case closing || failed:
	case was == starting:
		p.bootFailed(nil, fmt.Errorf("the zygote exited before it imported the app: %s", waitText(ws)))
	default:
		p.log.Error().Int("pid", z.pid).Str("status", waitText(ws)).Int("processes", len(children)).
			Msg("the zygote (preload) died, and its app processes with it; starting it again")
	}
}

func (p *pool) zygoteGone(z *zygote) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if z.state != dead {
		z.state = dead
		close(z.exited)
	}
	if p.zyg == z {
		p.zyg = nil
	}
	p.wake()
}
