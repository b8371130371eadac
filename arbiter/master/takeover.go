package master

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/listeners"
	"github.com/arbiter-dev/arbiter/ipc"
)

// takeover is the new master's side of a USR2 hand-off.
type takeover struct {
	parent   int
	ready    *os.File // nil once the old master has been told
	promoted bool     // the old master is gone; the pidfile is ours
}

// inheritListeners adopts the listeners the old master handed over and
// binds the ones this config adds. Handed-over listeners this config no
// longer names are released (their unix socket files stay: the old master
// still serves on them until it exits).
func (m *Master) inheritListeners(u *ipc.Upgrade) ([]*listeners.Listener, error) {
	var have []*listeners.Listener
	for _, l := range u.Listeners {
		il, err := listeners.Inherit(l.FD, config.Listen{Address: l.Address, Protocol: l.Protocol, Name: l.Name})
		if err != nil {
			listeners.ReleaseAll(have)
			return nil, err
		}
		have = append(have, il)
	}
	ls, err := listeners.Adopt(m.cfg.Listen, m.cfg.Backlog, have)
	if err != nil {
		listeners.ReleaseAll(have)
		return nil, err
	}
	listeners.ReleaseAll(listeners.Unused(have, ls))
	return ls, nil
}

// startTakeover prepares the pipes to the old master: the ready pipe, and
// the lifeline whose EOF says the old master has exited.
func (m *Master) startTakeover(u *ipc.Upgrade) error {
	ready, err := pipeEnd(u.ReadyFD, "ready")
	if err != nil {
		return err
	}
	life, err := pipeEnd(u.LifelineFD, "lifeline")
	if err != nil {
		ready.Close()
		return err
	}
	m.takeover = &takeover{parent: u.Parent, ready: ready}
	go func() {
		var b [1]byte
		for {
			if _, err := life.Read(b[:]); err != nil {
				break
			}
		}
		life.Close()
		select {
		case m.events <- event{promote: true}:
		case <-m.done:
		}
	}()
	m.log.Info().Int("old_master", u.Parent).Int("listeners", len(u.Listeners)).Msg("taking over from the old master")
	return nil
}

func pipeEnd(fd int, name string) (*os.File, error) {
	if fd < 3 {
		return nil, fmt.Errorf("take over: bad %s fd %d", name, fd)
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("take over: %s fd %d: %w", name, fd, err)
	}
	return f, nil
}

// tellOldMaster sends the ready frame once the first generation is ready.
func (m *Master) tellOldMaster() {
	t := m.takeover
	if t == nil || t.ready == nil {
		return
	}
	err := ipc.NewWriter(t.ready).Send(ipc.Message{Kind: ipc.KindReady})
	t.ready.Close()
	t.ready = nil
	if err != nil && !errors.Is(err, syscall.EPIPE) {
		m.log.Error().Err(err).Msg("take over: cannot tell the old master we are ready")
		return
	}
	m.log.Info().Int("old_master", t.parent).Msg("ready: the old master may hand over")
}

// promote runs when the old master has exited: the pidfile's name is ours.
func (m *Master) promote() {
	t := m.takeover
	if t == nil || t.promoted {
		return
	}
	t.promoted = true
	if m.pidPath != "" && m.pidPath != m.cfg.Pidfile {
		if err := os.Rename(m.pidPath, m.cfg.Pidfile); err != nil {
			m.log.Error().Err(err).Msg("promote: cannot take over the pidfile's name")
		} else {
			m.pidPath = m.cfg.Pidfile
		}
	}
	m.log.Info().Int("old_master", t.parent).Msg("promoted: the old master is gone; this master is in charge")
	m.notifyErr(m.opt.Notify.Ready("promoted; " + m.statusLine()))
	if m.opt.OnPromote != nil {
		m.opt.OnPromote()
	}
}
