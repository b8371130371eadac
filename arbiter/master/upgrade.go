package master

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/ipc"
)

// upgrade is the old master's view of a USR2 hand-off in progress.
type upgrade struct {
	pid      int
	started  time.Time
	lifeline *os.File  // our end; the new master sees EOF when we exit
	termAt   time.Time // when we gave up on it and sent SIGTERM
	exit     string    // how it exited, once reaped
}

// startUpgrade re-executes the master's binary, from its path (it may have
// been replaced since this master started), as a new master that inherits
// every listener. This master keeps serving until the new one says it is
// ready; see handOver and the upgrade checks in checkTimers and reap.
// It returns why no new master was started, or nil.
func (m *Master) startUpgrade() error {
	switch {
	case m.state != running:
		m.log.Warn().Msg("USR2 refused: this master is stopping")
		return errors.New("upgrade refused: this master is stopping")
	case m.upgrade != nil:
		m.log.Warn().Int("new_master", m.upgrade.pid).Msg("USR2 refused: an upgrade is already in progress")
		return fmt.Errorf("upgrade refused: an upgrade to new master %d is already in progress", m.upgrade.pid)
	case m.takeover != nil && !m.takeover.promoted:
		m.log.Warn().Int("old_master", m.takeover.parent).Msg("USR2 refused: this master is still taking over from the old one")
		return fmt.Errorf("upgrade refused: this master is still taking over from old master %d", m.takeover.parent)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		m.log.Error().Err(err).Msg("USR2: cannot start the new master")
		return fmt.Errorf("upgrade: cannot start the new master: %w", err)
	}
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		readyW.Close()
		m.log.Error().Err(err).Msg("USR2: cannot start the new master")
		return fmt.Errorf("upgrade: cannot start the new master: %w", err)
	}
	files := []uintptr{os.Stdin.Fd(), os.Stdout.Fd(), os.Stderr.Fd()}
	doc := ipc.Upgrade{Parent: os.Getpid()}
	for _, l := range m.listeners {
		doc.Listeners = append(doc.Listeners, ipc.Listener{FD: len(files), Address: l.Spec.Address,
			Protocol: l.Spec.Protocol, Name: l.Spec.Name})
		files = append(files, uintptr(l.FD))
	}
	doc.ReadyFD = len(files)
	files = append(files, readyW.Fd())
	doc.LifelineFD = len(files)
	files = append(files, lifeR.Fd())
	enc, err := doc.Encode()
	if err == nil {
		var pid int
		pid, err = syscall.ForkExec(m.opt.Self, m.opt.SelfArgs, &syscall.ProcAttr{
			Env: append(envWithout(ipc.EnvBoot, ipc.EnvUpgrade), ipc.EnvUpgrade+"="+enc), Files: files,
		})
		if err == nil {
			m.upgrade = &upgrade{pid: pid, started: m.now(), lifeline: lifeW}
		}
	}
	readyW.Close()
	lifeR.Close()
	if err != nil {
		readyR.Close()
		lifeW.Close()
		m.log.Error().Err(err).Str("binary", m.opt.Self).Msg("USR2: cannot start the new master; this master keeps serving")
		return fmt.Errorf("upgrade: cannot start the new master %s: %w", m.opt.Self, err)
	}
	m.log.Info().Int("new_master", m.upgrade.pid).Str("binary", m.opt.Self).Msg("upgrade: new master started; serving until it is ready")
	go func() {
		defer readyR.Close()
		msg, err := ipc.NewReader(readyR).Read()
		ok := err == nil && msg.Kind == ipc.KindReady
		select {
		case m.events <- event{upgrade: true, closed: !ok}:
		case <-m.done:
		}
	}()
	return nil
}

// handOver runs when the new master's workers are ready: this master
// drains its own workers and exits, leaving the listeners (and their unix
// socket files) and the pidfile's name to the new one.
func (m *Master) handOver() {
	if m.upgrade == nil || m.state != running {
		return
	}
	m.handedOver = true
	// systemd must follow the new master before this one exits, or it
	// would take the main process's exit for the service's end.
	m.notifyErr(m.opt.Notify.MainPID(m.upgrade.pid))
	m.log.Info().Int("new_master", m.upgrade.pid).Msg("upgrade: the new master is ready; draining this master's workers and exiting")
	m.stop(true)
}

// upgradeExited handles the new master's exit, reaped here since it is our
// child. Before the hand-off that means the upgrade failed.
func (m *Master) upgradeExited(ws unix.WaitStatus) {
	u := m.upgrade
	m.upgrade = nil
	u.lifeline.Close()
	how := describeExit(ws)
	u.exit = how
	if m.handedOver {
		m.log.Error().Int("new_master", u.pid).Str("exit", how).Msg("upgrade: the new master exited after the hand-off")
		return
	}
	m.log.Error().Int("new_master", u.pid).Str("exit", how).
		Msg("upgrade failed: the new master exited before it was ready (see its lines above); this master keeps serving")
}

// checkUpgrade stops a new master that is not ready within upgrade_timeout:
// SIGTERM (it drains its workers), then SIGKILL after graceful_timeout.
func (m *Master) checkUpgrade(now time.Time) {
	u := m.upgrade
	if u == nil || m.handedOver {
		return
	}
	switch {
	case u.termAt.IsZero() && now.Sub(u.started) > m.cfg.UpgradeTimeout:
		m.log.Error().Int("new_master", u.pid).Dur("upgrade_timeout", m.cfg.UpgradeTimeout).
			Msg("upgrade failed: the new master is not ready in time; stopping it, this master keeps serving")
		u.termAt = now
		_ = unix.Kill(u.pid, unix.SIGTERM)
	case !u.termAt.IsZero() && now.Sub(u.termAt) > m.cfg.GracefulTimeout+time.Second:
		_ = unix.Kill(u.pid, unix.SIGKILL)
	}
}

// abortUpgrade passes a stop on to a new master that has not taken over.
func (m *Master) abortUpgrade(sig unix.Signal) {
	if m.upgrade == nil || m.handedOver {
		return
	}
	m.log.Warn().Int("new_master", m.upgrade.pid).Str("signal", unix.SignalName(sig)).Msg("upgrade aborted: stopping the new master too")
	_ = unix.Kill(m.upgrade.pid, sig)
}

func describeExit(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit code " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		return "signal " + unix.SignalName(ws.Signal())
	}
	return "unknown"
}

// envWithout returns the environment minus the named variables.
func envWithout(names ...string) []string {
	var env []string
outer:
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		for _, n := range names {
			if name == n {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return env
}
