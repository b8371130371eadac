package wsgi

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

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

// reap waits for a process the worker started itself. A process that
// exits while starting may have left READY or BOOT_ERROR in its socket:
// exited closes the socket only once awaitReady has read that frame, or
// after exitGrace (a grandchild the app forked can keep the socket open and
// the read from ending).
func (p *pool) reap(pr *proc) {
	defer p.wg.Done()
	ws := wait4(pr.pid)
	waitAtMost(pr.firstRead, exitGrace)
	p.exited(pr, ws)
}

// wait4 waits for the child pid to exit and returns its wait status.
func wait4(pid int) syscall.WaitStatus {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return ws
		}
	}
}

// waitAtMost waits until ch is closed or d has passed.
func waitAtMost(ch <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
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
	rd.closeFDs() // no frame before READY carries one
	close(pr.firstRead)
	switch {
	case err != nil:
		<-pr.exited
		p.capture(pr)
		p.bootFailed(pr, fmt.Errorf("the app process exited before it was ready: %s", p.exitText(pr)))
	case kind == frameReady:
		pid, err := parseReady(payload)
		if err != nil {
			p.bootFailed(pr, err)
			return
		}
		p.ready(pr, pid)
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

// recycleLocked starts a replacement for pr, which serves until the
// replacement is ready.
func (p *pool) recycleLocked(pr *proc, why string) {
	pr.state = recycling
	p.log.Info().Int("pid", pr.pid).Str("why", why).Msg("recycling app process; the replacement starts first")
	p.wake()
}

// closeLocked closes a process's sockets: it sees end of file and exits.
// SIGKILL follows if it is still there after exitGrace; a forked process
// whose pid the zygote never reported is killed with the zygote.
func (p *pool) closeLocked(pr *proc) {
	if pr.exitTimer != nil {
		return
	}
	for _, s := range pr.slots {
		s.c.Close()
	}
	exited := pr.exited
	pr.exitTimer = time.AfterFunc(exitGrace, func() {
		select {
		case <-exited:
			return
		default:
		}
		p.mu.Lock()
		pid, what := p.exitKillTargetLocked(pr)
		p.mu.Unlock()
		if pid <= 0 {
			return
		}
		p.log.Warn().Int("pid", pid).Dur("after", exitGrace).Msg(what + " did not exit after its sockets closed; killing it")
		_ = syscall.Kill(pid, syscall.SIGKILL)
	})
}

// exitKillTargetLocked is what to kill for a process that did not exit
// after its sockets closed: itself, or the zygote when the process was
// forked and the zygote never said its pid (its children die with it).
// pid is 0 when there is nothing to kill: never a pid that kill(2) would
// take for a process group (0) or for every process (-1).
func (p *pool) exitKillTargetLocked(pr *proc) (pid int, what string) {
	switch {
	case pr.pid > 0:
		return pr.pid, "app process"
	case pr.forked && p.zyg != nil && p.zyg.pid > 0:
		return p.zyg.pid, "the zygote of an app process it never reported"
	}
	return 0, ""
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
