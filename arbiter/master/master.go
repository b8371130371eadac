// Package master is arbiter's master process: it owns the listeners, spawns
// workers by re-executing its own binary, reaps them, watches their
// heartbeats, and changes the fleet on signals.
//
// One goroutine (Run's loop) owns all state: the worker table, the config
// and the generation number. Signals, worker messages and a ticker arrive on
// channels; nothing else touches the state. Children are reaped only there,
// with wait4(-1, WNOHANG): nothing in the master waits for a child any other
// way, so no exit is ever stolen.
package master

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/listeners"
	"github.com/arbiter-dev/arbiter/arbiter/logging"
	"github.com/arbiter-dev/arbiter/arbiter/pidfile"
	"github.com/arbiter-dev/arbiter/ipc"
	"github.com/arbiter-dev/arbiter/signals"
	"github.com/arbiter-dev/arbiter/systemd"
)

// Errors Run returns; cmd maps them to exit codes.
var (
	// ErrWorkerBoot: workers kept failing to boot; the master halted.
	ErrWorkerBoot = errors.New("workers keep failing to boot")
	// ErrAppLoad: workers kept failing to load the application; the master halted.
	ErrAppLoad = errors.New("workers keep failing to load the app")
	// ErrListen: a listener could not be bound.
	ErrListen = errors.New("cannot listen")
)

// Worker exit codes (the worker's side of the contract; gunicorn's numbers).
const (
	ExitWorkerBoot = 3
	ExitAppLoad    = 4
)

// Options configure a Master.
type Options struct {
	Config    *config.Config   // the validated config
	Overrides config.Overrides // re-applied when HUP re-reads the file
	// Validate, when set, checks a config beyond config.Load (for example
	// that an app of type "go" has a handler in this binary). Used on HUP.
	Validate func(*config.Config) error
	Log      zerolog.Logger
	Sink     *logging.Sink // where worker output goes; nil = the Log's writer is not reopened
	// Executable and Args start a worker: the master's own binary and the
	// arguments of the hidden worker command.
	Executable string
	Args       []string
	// Self and SelfArgs start a new master on USR2: the path of the binary
	// (read again at that moment, so a replaced binary is the one run) and
	// the master's own command line.
	Self     string
	SelfArgs []string
	// Takeover is set when this master was started by an old one on USR2.
	Takeover *ipc.Upgrade
	// OnPromote, if set, runs when a taking-over master becomes the one in
	// charge (the old master has exited).
	OnPromote func()
	// Activated are the sockets systemd passed (systemd.Sockets); every one
	// must be named by a "systemd:NAME" listener.
	Activated []systemd.Socket
	// Notify sends sd_notify messages; its zero value does nothing outside
	// systemd.
	Notify systemd.Notifier
}

type state int

const (
	running state = iota
	stoppingGraceful
	stoppingFast
)

// Master is one master process. Create it with New and call Run once.
type Master struct {
	opt       Options
	cfg       *config.Config
	log       zerolog.Logger        // the master's own lines: pid is the master's
	base      zerolog.Logger        // for worker output: pid is the worker's
	listeners []*listeners.Listener // the current generation's, in config order
	open      []*listeners.Listener // every listener held: a reload keeps removed ones until the new generation is ready
	pidPath   string                // the pidfile written ("<pidfile>.2" while taking over)

	gen     int
	desired int
	nextID  int
	workers map[int]*proc // by id
	byPID   map[int]*proc

	state        state
	stopDeadline time.Time
	haltErr      error

	bootFailures int
	nextSpawn    time.Time // back-off gate
	genReady     bool      // the current generation has had all its workers ready
	servingCfg   *config.Config
	servingGen   int // the last generation that was fully ready; a failed reload falls back to it
	servingLs    []*listeners.Listener

	upgrade    *upgrade  // old side of a USR2 hand-off
	handedOver bool      // the new master took over; this one is leaving
	pidChecked time.Time // checkPidfile's last look
	pidLost    bool      // the pidfile is gone and could not be written again (logged)
	takeover   *takeover // new side of a USR2 hand-off

	cred              *syscall.Credential // workers' user and group; nil = the master's
	requestsDone      uint64              // requests served by workers that have exited
	durationsDone     ipc.Histogram       // their request durations, as of their last heartbeat
	bootFailuresTotal int
	retirements       map[string]uint64 // retirements by reason (retire*)
	memChecked        time.Time         // checkRecycling's last read of the workers' RSS
	snapshot          atomic.Pointer[Snapshot]

	notifyFailed   bool
	watchdog       time.Duration // WATCHDOG=1 interval; 0 = off
	lastWatchdog   time.Time
	lastStatus     time.Time
	lastStatusLine string

	ctl   controlState // the control socket (control.go)
	scale scaler       // the dynamic worker count (scale.go)

	events   chan event
	commands chan command // from the control socket's connections
	done     chan struct{}
	now      func() time.Time
}

// proc is the master's view of one worker.
type proc struct {
	id, gen, pid int
	started      time.Time
	readyAt      time.Time // zero while booting
	lastSeen     time.Time
	stats        ipc.Stats
	recycle      string    // why it is to be replaced once its replacement is ready ("" = not): retire* reasons
	lifeEnd      time.Time // max_worker_lifetime reached; zero = no limit
	stopReason   string    // why it was told to stop (retire* reasons), once retiring or aborted
	retiring     bool      // told to stop
	stopBy       time.Time // SIGKILL after this, when retiring
	abortedAt    time.Time // SIGABRT sent
	killed       bool      // SIGKILL sent
	control      *ipc.Writer
	controlFile  *os.File
}

func (p *proc) ready() bool { return !p.readyAt.IsZero() }

type event struct {
	id      int
	msg     ipc.Message
	closed  bool // the pipe reached EOF (or, for upgrade, closed without a ready frame)
	upgrade bool // from the new master's ready pipe
	promote bool // the old master's lifeline closed
}

// New prepares a master; it binds nothing yet.
func New(opt Options) *Master {
	return &Master{
		opt: opt, cfg: opt.Config, base: opt.Log,
		log: opt.Log.With().Int("pid", os.Getpid()).Logger(),
		gen: 1, desired: opt.Config.Workers,
		workers: map[int]*proc{}, byPID: map[int]*proc{}, retirements: map[string]uint64{},
		events: make(chan event, 256), commands: make(chan command), done: make(chan struct{}), now: time.Now,
	}
}

// Run binds the listeners, writes the pidfile, starts the workers and runs
// until a stop signal or a halt. It returns nil after a clean stop.
func (m *Master) Run() error {
	defer close(m.done)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		m.log.Warn().Err(err).Msg("cannot become a child subreaper; orphaned grandchildren will not be reaped here")
	}
	// Subscribe before anything can go wrong, so that no signal (and no
	// child exit) is missed between now and the loop.
	sigq := signals.NewQueue(signals.Handled...)
	defer sigq.Stop()

	var err error
	if m.cred, err = credentials(m.cfg); err != nil {
		return err
	}
	if err := applyProcess(m.cfg); err != nil {
		return err
	}

	// The pidfile comes first: a second master started by mistake is
	// refused for what it is (exit 7), not for the busy port. A master
	// taking over writes "<pidfile>.2" until the old one is gone.
	if m.cfg.Pidfile != "" {
		m.pidPath = m.cfg.Pidfile
		if m.opt.Takeover != nil {
			m.pidPath += ".2"
		}
		if err := pidfile.Write(m.pidPath, os.Getpid()); err != nil {
			return err
		}
		defer func() {
			if !m.handedOver {
				pidfile.Remove(m.pidPath, os.Getpid())
			}
		}()
	}
	useActivated(m.cfg, m.opt.Activated)
	var ls []*listeners.Listener
	if m.opt.Takeover != nil {
		ls, err = m.inheritListeners(m.opt.Takeover)
	} else {
		ls, err = m.openListeners()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrListen, err)
	}
	m.listeners, m.open = ls, append([]*listeners.Listener(nil), ls...)
	defer m.closeListeners()
	if err := m.handOverFiles(ls); err != nil {
		return err
	}
	if m.cfg.Status.Address != "" {
		stopStatus, err := m.startStatus(m.cfg.Status.Address)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrListen, err)
		}
		defer stopStatus()
	}
	defer m.startControl()()
	parent := 0
	if m.opt.Takeover != nil {
		parent = m.opt.Takeover.Parent
	}
	m.watchdog = systemd.WatchdogInterval(parent)
	if m.opt.Takeover != nil {
		if err := m.startTakeover(m.opt.Takeover); err != nil {
			return fmt.Errorf("%w: %w", ErrListen, err)
		}
	}
	for _, l := range ls {
		m.log.Info().Str("address", l.Addr).Str("protocol", l.Spec.Protocol).Msg("listening")
	}
	m.log.Info().Int("workers", m.desired).Int("generation", m.gen).Str("config", m.cfg.Path).Msg("master started")

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	m.manage()
	m.publish()
	for !m.finished() {
		select {
		case s := <-sigq.C():
			m.onSignal(s)
		case ev := <-m.events:
			m.onEvent(ev)
		case c := <-m.commands:
			m.onCommand(c)
		case <-tick.C:
			m.reap()
			m.checkTimers()
			m.checkRecycling(m.now())
			m.checkPidfile()
			m.notifyTick(m.now())
			m.scaleTick()
		}
		m.manage()
		m.settle()
		m.publish()
	}
	m.log.Info().Msg("master stopped")
	return m.haltErr
}

func (m *Master) finished() bool {
	return m.state != running && len(m.workers) == 0
}

func (m *Master) onSignal(s os.Signal) {
	a := signals.ActionOf(s)
	if a != signals.ChildExited {
		m.log.Info().Str("signal", signals.Name(s)).Stringer("action", a).Msg("signal")
	}
	switch a {
	case signals.ChildExited:
		m.reap()
	case signals.Reload:
		if m.upgrade != nil {
			m.log.Warn().Int("new_master", m.upgrade.pid).Msg("HUP refused: an upgrade is in progress; HUP the new master once it has taken over")
			return
		}
		_ = m.reload() // a refusal is logged
	case signals.GracefulStop:
		m.abortUpgrade(syscall.SIGTERM)
		m.stop(true)
	case signals.FastStop:
		m.abortUpgrade(syscall.SIGQUIT)
		m.stop(false)
	case signals.AddWorker:
		m.scaleBySignal(+1)
	case signals.RemoveWorker:
		m.scaleBySignal(-1)
	case signals.StopWorkers:
		if m.state == running {
			m.desired = 0
			m.log.Info().Msg("stopping all workers; the master stays (HUP or TTIN start them again)")
		}
	case signals.ReopenLogs:
		m.reopenLogs()
	case signals.Upgrade:
		_ = m.startUpgrade() // a refusal is logged
	}
}

func (m *Master) onEvent(ev event) {
	switch {
	case ev.upgrade:
		if !ev.closed {
			m.handOver()
		}
		return
	case ev.promote:
		m.promote()
		return
	}
	p := m.workers[ev.id]
	if p == nil {
		return
	}
	if ev.closed {
		return // the exit itself arrives through wait4
	}
	now := m.now()
	p.lastSeen = now
	switch ev.msg.Kind {
	case ipc.KindReady:
		p.readyAt = now
		p.stats = ev.msg.Stats
		m.bootFailures = 0
		m.log.Info().Int("worker", p.id).Int("worker_pid", p.pid).Int("generation", p.gen).
			Dur("boot", now.Sub(p.started)).Msg("worker ready")
	case ipc.KindHeartbeat:
		p.stats = ev.msg.Stats
	case ipc.KindRecycle:
		m.recycleRequested(p, ev.msg)
	}
}

// stop begins a graceful or fast stop of every worker. A fast stop during a
// graceful one escalates; a graceful one during a fast one changes nothing.
func (m *Master) stop(graceful bool) {
	switch {
	case m.state == stoppingFast, m.state == stoppingGraceful && graceful:
		return
	}
	now := m.now()
	if !m.handedOver {
		m.notifyErr(m.opt.Notify.Stopping(fmt.Sprintf("stopping (%s)", map[bool]string{true: "graceful", false: "fast"}[graceful])))
	}
	if graceful {
		m.state = stoppingGraceful
		m.stopDeadline = now.Add(m.cfg.GracefulTimeout)
	} else {
		m.state = stoppingFast
		m.stopDeadline = now.Add(min(m.cfg.GracefulTimeout, 2*time.Second))
	}
	for _, p := range m.workers {
		m.tell(p, ipc.Message{Kind: ipc.KindStop, Graceful: graceful})
		if !p.retiring {
			m.countRetirement(p, retireStop)
		}
		p.retiring = true
		p.stopBy = m.stopDeadline
	}
	// No worker will be started again: drop the master's copies (and unlink
	// unix socket files) so that new clients are refused at once instead of
	// waiting in a backlog that nobody will accept from. Draining workers
	// still hold their own copies until they stop accepting.
	m.closeListeners()
}

func (m *Master) reopenLogs() {
	if m.opt.Sink != nil {
		if err := m.opt.Sink.Reopen(); err != nil {
			m.log.Error().Err(err).Msg("reopen log file failed; still writing to the old one")
		}
	}
	for _, p := range m.workers {
		m.tell(p, ipc.Message{Kind: ipc.KindReopenLogs})
	}
}

// tell sends m to a worker; a worker that is gone or not reading (its pipe
// full for 100 ms) is reported and otherwise ignored: timers deal with it.
func (m *Master) tell(p *proc, msg ipc.Message) {
	_ = p.controlFile.SetWriteDeadline(m.now().Add(100 * time.Millisecond))
	if err := p.control.Send(msg); err != nil && !errors.Is(err, syscall.EPIPE) {
		m.log.Warn().Err(err).Int("worker", p.id).Int("worker_pid", p.pid).Msg("control message not delivered")
	}
}
