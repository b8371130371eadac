package master

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/listeners"
	"github.com/arbiter-dev/arbiter/systemd"
)

// useActivated applies the rule for a config without listeners under socket
// activation: every socket systemd passed is served over HTTP.
func useActivated(cfg *config.Config, socks []systemd.Socket) {
	if !cfg.ListenDefaulted || len(socks) == 0 {
		return
	}
	cfg.Listen = nil
	for _, s := range socks {
		cfg.Listen = append(cfg.Listen, config.Listen{Address: "systemd:" + strconv.Itoa(s.Index), Protocol: config.ProtoHTTP, Name: s.Name})
	}
}

// openListeners binds the configured listeners, taking "systemd:NAME" ones
// from the sockets systemd passed. Every passed socket must be used: one
// the config does not name is an error, not a silently idle socket.
func (m *Master) openListeners() ([]*listeners.Listener, error) {
	var have []*listeners.Listener
	used := map[int]bool{}
	for _, spec := range m.cfg.Listen {
		ref, ok := strings.CutPrefix(spec.Address, "systemd:")
		if !ok {
			continue
		}
		s, found := systemd.Find(m.opt.Activated, ref)
		if !found || used[s.Index] {
			continue // listeners.Adopt reports it
		}
		used[s.Index] = true
		l, err := listeners.Inherit(s.FD, spec)
		if err != nil {
			listeners.CloseAll(have)
			return nil, err
		}
		have = append(have, l)
	}
	var unused []string
	for _, s := range m.opt.Activated {
		if !used[s.Index] {
			unused = append(unused, fmt.Sprintf("%q (systemd:%s or systemd:%d)", s.Name, s.Name, s.Index))
		}
	}
	if len(unused) > 0 {
		listeners.CloseAll(have)
		return nil, fmt.Errorf("systemd passed sockets the config does not use: %s; add a [[listen]] entry for each",
			strings.Join(unused, ", "))
	}
	ls, err := listeners.Adopt(m.cfg.Listen, m.cfg.Backlog, have)
	if err != nil {
		listeners.CloseAll(have)
		return nil, err
	}
	return ls, nil
}

// closeListeners closes every listener the master holds; after a hand-off
// it only releases them, leaving the unix socket files to the new master.
func (m *Master) closeListeners() {
	if m.handedOver {
		listeners.ReleaseAll(m.open)
	} else {
		listeners.CloseAll(m.open)
	}
	m.listeners, m.open = nil, nil
}
