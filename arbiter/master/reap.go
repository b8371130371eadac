package master

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/arbiter/pidfile"
)

// abortGrace is how long a worker that got SIGABRT has to write its
// goroutine dump before SIGKILL.
const abortGrace = 3 * time.Second

// reap collects every child that has exited. Unknown children (orphaned
// grandchildren re-parented to this subreaper) are reaped silently.
func (m *Master) reap() {
	for {
		var ws unix.WaitStatus
		var ru unix.Rusage
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, &ru)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if m.upgrade != nil && pid == m.upgrade.pid {
			m.upgradeExited(ws)
			continue
		}
		p := m.byPID[pid]
		if p == nil {
			m.log.Debug().Int("child_pid", pid).Msg("reaped an unknown child")
			continue
		}
		m.exited(p, ws)
	}
}

// exited removes a reaped worker and decides what its death means.
func (m *Master) exited(p *proc, ws unix.WaitStatus) {
	delete(m.byPID, p.pid)
	delete(m.workers, p.id)
	p.controlFile.Close()
	m.requestsDone += p.stats.Requests
	m.durationsDone.Add(p.stats.Durations)

	ev := m.log.Info()
	expected := p.retiring && !p.killed && ws.Exited() && ws.ExitStatus() == 0
	if !expected {
		ev = m.log.Error()
	}
	ev = ev.Int("worker", p.id).Int("worker_pid", p.pid).Int("generation", p.gen).Dur("age", m.now().Sub(p.started))
	switch {
	case ws.Exited():
		ev = ev.Int("exit_code", ws.ExitStatus())
	case ws.Signaled():
		ev = ev.Str("signal", unix.SignalName(ws.Signal()))
		if ws.Signal() == syscall.SIGKILL && !p.killed {
			ev = ev.Str("hint", "killed by someone else; out of memory?")
		}
	}
	ev.Msg("worker exited")

	if m.state != running || p.ready() {
		return
	}
	// Died before it was ready: a boot failure, whatever the reason.
	code := ExitWorkerBoot
	if ws.Exited() && ws.ExitStatus() == ExitAppLoad {
		code = ExitAppLoad
	}
	m.bootFailed(code)
}

// bootFailed counts a worker that did not come up (it died before it was
// ready, or could not be started), backs off, and halts the master, or
// abandons a reload, when it happens max_boot_failures times in a row.
func (m *Master) bootFailed(code int) {
	m.bootFailures++
	m.bootFailuresTotal++
	delay := backoff(m.bootFailures)
	m.nextSpawn = m.now().Add(delay)
	if m.bootFailures < m.cfg.MaxBootFailures {
		m.log.Warn().Int("failures", m.bootFailures).Int("max_boot_failures", m.cfg.MaxBootFailures).
			Dur("retry_in", delay).Msg("worker failed to boot; retrying after a back-off")
		return
	}
	if m.rollbackReload() {
		return
	}
	err := ErrWorkerBoot
	if code == ExitAppLoad {
		err = ErrAppLoad
	}
	m.haltErr = fmt.Errorf("%w: %d boot failures in a row; the last worker exited with code %d (see its log lines above)",
		err, m.bootFailures, code)
	m.log.Error().Err(m.haltErr).Msg("halting")
	m.stop(true)
}

// rollbackReload abandons a reload whose workers do not boot while the last
// fully ready generation still serves: its config and generation number
// come back, and the workers of every newer generation are retired.
func (m *Master) rollbackReload() bool {
	if m.servingCfg == nil || m.servingGen == m.gen {
		return false
	}
	oldReady := false
	for _, p := range m.workers {
		if p.gen == m.servingGen && p.ready() && !p.retiring {
			oldReady = true
		}
	}
	if !oldReady {
		return false
	}
	m.log.Error().Int("generation", m.gen).Int("keeping", m.servingGen).
		Msg("reload abandoned: the new generation's workers do not boot; the last ready generation keeps serving")
	for _, p := range m.workers {
		if p.gen > m.servingGen {
			m.retire(p, retireAbandoned)
		}
	}
	m.cfg, m.gen = m.servingCfg, m.servingGen
	m.genReady = true
	m.listeners = m.servingLs
	for i, l := range m.listeners {
		l.Spec = m.cfg.Listen[i] // a reload may have changed a kept listener's protocol
	}
	m.closeStaleListeners()
	m.desired = m.cfg.Workers
	m.bootFailures = 0
	m.nextSpawn = time.Time{}
	return true
}

// backoff is 100 ms after the first failure, doubling, at most 5 s.
func backoff(failures int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < failures && d < 5*time.Second; i++ {
		d *= 2
	}
	return min(d, 5*time.Second)
}

// checkTimers enforces timeout (SIGABRT, then SIGKILL) and the stop deadlines.
func (m *Master) checkTimers() {
	now := m.now()
	m.checkUpgrade(now)
	timeout := m.cfg.Timeout
	for _, p := range m.workers {
		switch {
		case p.killed:
		case !p.abortedAt.IsZero():
			if now.Sub(p.abortedAt) > abortGrace {
				m.kill(p, "no exit after SIGABRT")
			}
		case p.retiring && now.After(p.stopBy):
			m.kill(p, "graceful_timeout passed")
		case timeout > 0 && !p.ready() && now.Sub(p.started) > timeout:
			m.abort(p, "not ready within timeout")
		case timeout > 0 && p.ready() && now.Sub(p.lastSeen) > timeout:
			m.abort(p, "no heartbeat within timeout")
		}
	}
}

// abort sends SIGABRT so that the Go runtime writes every goroutine's stack
// (captured into the log), then SIGCONT in case the worker is stopped, since
// a stopped process would not act on SIGABRT until continued.
func (m *Master) abort(p *proc, why string) {
	m.log.Error().Int("worker", p.id).Int("worker_pid", p.pid).Dur("timeout", m.cfg.Timeout).Str("why", why).
		Msg("worker timeout: sending SIGABRT (its goroutine dump follows), then SIGKILL")
	p.abortedAt = m.now()
	if !p.retiring {
		m.countRetirement(p, retireTimeout)
	}
	_ = unix.Kill(p.pid, unix.SIGABRT)
	_ = unix.Kill(p.pid, unix.SIGCONT)
}

func (m *Master) kill(p *proc, why string) {
	m.log.Warn().Int("worker", p.id).Int("worker_pid", p.pid).Str("why", why).Msg("sending SIGKILL")
	p.killed = true
	_ = unix.Kill(p.pid, unix.SIGKILL)
}

// checkPidfile looks every second whether the pidfile is still there, and
// writes it again when it was removed (a tmp cleaner, a removed run
// directory), so that `arbiter signal --pidfile` keeps finding this master.
// It logs the removal, or once per loss that the file cannot be written
// again (its directory is gone), and keeps trying. A pidfile that names
// another process is left alone, and so is the pidfile during a USR2 hand-off.
func (m *Master) checkPidfile() {
	if m.pidPath == "" || m.pidPath != m.cfg.Pidfile || m.upgrade != nil || m.handedOver || m.state != running {
		return
	}
	now := m.now()
	if now.Sub(m.pidChecked) < time.Second {
		return
	}
	m.pidChecked = now
	if _, err := os.Stat(m.pidPath); !errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err := pidfile.Write(m.pidPath, os.Getpid()); err != nil {
		if !m.pidLost {
			m.log.Error().Err(err).Str("pidfile", m.pidPath).
				Msg("pidfile was removed and cannot be written again; serving on, retrying every second")
		}
		m.pidLost = true
		return
	}
	m.pidLost = false
	m.log.Warn().Str("pidfile", m.pidPath).Msg("pidfile was removed; wrote it again")
}
