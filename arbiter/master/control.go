package master

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter/control"
)

// defaultCommandWait bounds how long a command waits for its outcome when
// the client gave no timeout.
const defaultCommandWait = 10 * time.Minute

// command is a control request handed to the loop; the loop answers on
// reply (buffered), at once or when a waiter sees the outcome.
type command struct {
	req   control.Request
	reply chan control.Reply
}

// waiter is a command whose outcome is not known yet. check runs after
// every event; it returns the reply once the outcome is known.
type waiter struct {
	reply    chan control.Reply
	deadline time.Time
	what     string
	check    func() (control.Reply, bool)
	atExit   func() control.Reply // the reply when the master exits first; nil = "the master exited"
}

// controlState is the loop's side of the control socket.
type controlState struct {
	srv       *control.Server
	bindLater bool // a master taking over binds once its first generation is ready
	waiters   []*waiter
	started   time.Time
	reload    *ReloadStatus // the last reload, HUP or `arbiter reload`
}

// ReloadStatus is the last reload in a Snapshot.
type ReloadStatus struct {
	Generation int       `json:"generation,omitempty"` // the generation it started; 0 when refused
	At         time.Time `json:"at"`
	Outcome    string    `json:"outcome"` // in progress, ready, refused, abandoned, superseded
	Error      string    `json:"error,omitempty"`
}

// startControl binds the control socket, unless the config turned it off.
// A master taking over on USR2 binds it later (settle), once its first
// generation is ready: until then the old master answers on it. A socket
// that cannot be bound is logged and the master runs without one.
func (m *Master) startControl() func() {
	m.ctl.started = m.now()
	if m.cfg.ControlSocket == "" {
		return func() {}
	}
	if m.opt.Takeover != nil {
		m.ctl.bindLater = true
	} else {
		m.bindControl(false)
	}
	return m.stopControl
}

func (m *Master) bindControl(replace bool) {
	srv, err := control.Listen(m.cfg.ControlSocket, replace, m.log, m.handleControl)
	if err != nil {
		m.log.Error().Err(err).Msg("no control socket; arbiter status and the other commands cannot reach this master")
		return
	}
	m.ctl.srv = srv
	m.log.Info().Str("path", srv.Path()).Msg("control socket listening")
}

// stopControl answers every waiting command (a stop is done now) and closes
// the socket, giving the replies a second to be written.
func (m *Master) stopControl() {
	for _, w := range m.ctl.waiters {
		r := control.Reply{Error: "the master exited before " + w.what + " finished"}
		if w.atExit != nil {
			r = w.atExit()
		}
		w.reply <- r
	}
	m.ctl.waiters = nil
	if m.ctl.srv != nil {
		m.ctl.srv.Close(time.Second)
	}
}

// handleControl runs on a connection's goroutine: it hands the request to
// the loop and waits for the reply.
func (m *Master) handleControl(req control.Request, closing <-chan struct{}) control.Reply {
	c := command{req: req, reply: make(chan control.Reply, 1)}
	gone := control.Reply{Error: "the master is exiting"}
	select {
	case m.commands <- c:
	case <-closing:
		return gone
	}
	select {
	case r := <-c.reply:
		return r
	case <-closing:
		select {
		case r := <-c.reply:
			return r
		default:
			return gone
		}
	}
}

// onCommand runs a control command on the loop.
func (m *Master) onCommand(c command) {
	fail := func(err error) { c.reply <- control.Reply{Error: err.Error()} }
	wait := func(what string, check func() (control.Reply, bool)) *waiter {
		d := c.req.Timeout
		if d <= 0 {
			d = defaultCommandWait
		}
		w := &waiter{reply: c.reply, deadline: m.now().Add(d), what: what, check: check}
		m.ctl.waiters = append(m.ctl.waiters, w)
		return w
	}
	switch c.req.Command {
	case control.CmdStatus:
		m.scale.queues = sampleQueues(m.listeners) // fresh, and there before the first tick
		m.publish()
		b, err := json.Marshal(m.snapshot.Load())
		if err != nil {
			fail(fmt.Errorf("status: %w", err))
			return
		}
		c.reply <- control.Reply{OK: true, Status: b}
	case control.CmdReload:
		if m.upgrade != nil {
			fail(fmt.Errorf("reload refused: an upgrade to new master %d is in progress; reload the new master once it has taken over", m.upgrade.pid))
			return
		}
		if err := m.reload(); err != nil {
			fail(err)
			return
		}
		m.waitReload(wait, m.gen)
	case control.CmdScale:
		n, err := scaleTarget(c.req.Workers, m.desired)
		if err == nil {
			err = m.scaleTo(n)
		}
		if err != nil {
			fail(fmt.Errorf("scale refused: %w", err))
			return
		}
		m.waitScale(wait, n)
	case control.CmdUpgrade:
		if err := m.startUpgrade(); err != nil {
			fail(err)
			return
		}
		m.waitUpgrade(wait, m.upgrade)
	case control.CmdStop:
		if c.req.Fast {
			m.abortUpgrade(syscall.SIGQUIT)
		} else {
			m.abortUpgrade(syscall.SIGTERM)
		}
		m.stop(!c.req.Fast)
		w := wait("the stop", func() (control.Reply, bool) { return control.Reply{}, false })
		w.atExit = func() control.Reply {
			if m.haltErr != nil {
				return control.Reply{Error: "stopped: " + m.haltErr.Error()}
			}
			return control.Reply{OK: true, Message: fmt.Sprintf("master %d stopped", m.snapshot.Load().PID)}
		}
	default:
		fail(fmt.Errorf("unknown command %q; want status, reload, scale, upgrade or stop", c.req.Command))
	}
}

// scaleTarget reads "N", "+N" or "-N" against the current count.
func scaleTarget(arg string, cur int) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(arg, "+"))
	if err != nil || arg == "" {
		return 0, fmt.Errorf("want N, +N or -N workers, got %q", arg)
	}
	if strings.HasPrefix(arg, "+") || strings.HasPrefix(arg, "-") {
		return cur + n, nil
	}
	return n, nil
}

func (m *Master) waitReload(wait func(string, func() (control.Reply, bool)) *waiter, gen int) {
	wait("the reload", func() (control.Reply, bool) {
		r := m.ctl.reload
		switch {
		case r == nil || r.Generation != gen:
			return control.Reply{Error: "reload superseded by another reload"}, true
		case r.Outcome == "ready":
			return control.Reply{OK: true, Message: fmt.Sprintf("generation %d ready with %d workers", gen, m.desired)}, true
		case r.Outcome != "in progress":
			return control.Reply{Error: "reload " + r.Outcome + ": " + r.Error}, true
		}
		return control.Reply{}, false
	})
}

func (m *Master) waitScale(wait func(string, func() (control.Reply, bool)) *waiter, n int) {
	wait("the scaling", func() (control.Reply, bool) {
		if m.state != running {
			return control.Reply{Error: "the master is stopping"}, true
		}
		if m.desired != n {
			return control.Reply{Error: fmt.Sprintf("the worker count was changed to %d before %d workers were ready", m.desired, n)}, true
		}
		active, ready := 0, 0
		for _, p := range m.workers {
			if p.gen == m.gen && !p.retiring && p.recycle == "" {
				active++
				if p.ready() {
					ready++
				}
			}
		}
		if active == n && ready == n {
			return control.Reply{OK: true, Message: fmt.Sprintf("%d %s ready", n, map[bool]string{true: "worker", false: "workers"}[n == 1])}, true
		}
		return control.Reply{}, false
	})
}

func (m *Master) waitUpgrade(wait func(string, func() (control.Reply, bool)) *waiter, u *upgrade) {
	wait("the upgrade", func() (control.Reply, bool) {
		switch {
		case m.handedOver:
			return control.Reply{OK: true, Message: fmt.Sprintf("new master %d is ready and in charge; old master %d is draining its workers",
				u.pid, m.snapshot.Load().PID)}, true
		case m.upgrade == u:
			return control.Reply{}, false
		case !u.termAt.IsZero():
			return control.Reply{Error: fmt.Sprintf("upgrade failed: new master %d was not ready within upgrade_timeout (%s) and was stopped (%s); this master keeps serving",
				u.pid, m.cfg.UpgradeTimeout, u.exit)}, true
		}
		return control.Reply{Error: fmt.Sprintf("upgrade failed: new master %d exited before it was ready (%s; see its log lines); this master keeps serving",
			u.pid, u.exit)}, true
	})
}

// reloadStarted records a reload: gen is the generation it started, 0 when
// it was refused with err.
func (m *Master) reloadStarted(gen int, err error) {
	r := &ReloadStatus{Generation: gen, At: m.now(), Outcome: "in progress"}
	if err != nil {
		r.Outcome, r.Error = "refused", err.Error()
	}
	m.ctl.reload = r
}

// settle runs after every event: it follows the last reload to its
// outcome, binds a taking-over master's control socket once it is ready,
// and answers the commands whose outcome is known or whose wait is over.
func (m *Master) settle() {
	if r := m.ctl.reload; r != nil && r.Outcome == "in progress" {
		switch {
		case m.gen < r.Generation:
			r.Outcome, r.Error = "abandoned", fmt.Sprintf("the new generation's workers do not boot; generation %d keeps serving", m.gen)
		case m.gen > r.Generation:
			r.Outcome = "superseded"
		case m.genReady:
			r.Outcome = "ready"
		case m.state != running:
			r.Outcome, r.Error = "abandoned", "the master is stopping"
		}
	}
	if m.ctl.bindLater && m.genReady {
		m.ctl.bindLater = false
		m.bindControl(true)
	}
	now := m.now()
	keep := m.ctl.waiters[:0]
	for _, w := range m.ctl.waiters {
		if r, done := w.check(); done {
			w.reply <- r
			continue
		}
		if now.After(w.deadline) {
			w.reply <- control.Reply{Error: "timed out waiting for " + w.what + " (it goes on)"}
			continue
		}
		keep = append(keep, w)
	}
	m.ctl.waiters = keep
}
