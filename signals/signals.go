// Package signals says what each signal means to the master, names them,
// queues them so that none is lost while the master is busy, and sends them
// to a running master from the command line.
package signals

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Action is what the master does on a signal (docs/signals.md).
type Action int

// The master's actions, with gunicorn's meanings.
const (
	None         Action = iota
	Reload              // HUP: re-read the config, start a new generation, retire the old one once it is ready
	GracefulStop        // TERM: drain workers, graceful_timeout, then SIGKILL; exit
	FastStop            // INT, QUIT: stop workers now; exit
	AddWorker           // TTIN: one worker more
	RemoveWorker        // TTOU: one worker less (never below one); the oldest retires
	ReopenLogs          // USR1: reopen log files in the master and the workers
	Upgrade             // USR2: re-exec a new master binary that inherits the listeners
	StopWorkers         // WINCH: stop every worker gracefully; the master stays
	ChildExited         // CHLD: reap
)

// Handled lists every signal the master acts on.
var Handled = []os.Signal{
	syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT,
	syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGWINCH, syscall.SIGCHLD,
}

// ActionOf returns what the master does on sig.
func ActionOf(sig os.Signal) Action {
	switch sig {
	case syscall.SIGHUP:
		return Reload
	case syscall.SIGTERM:
		return GracefulStop
	case syscall.SIGINT, syscall.SIGQUIT:
		return FastStop
	case syscall.SIGTTIN:
		return AddWorker
	case syscall.SIGTTOU:
		return RemoveWorker
	case syscall.SIGUSR1:
		return ReopenLogs
	case syscall.SIGUSR2:
		return Upgrade
	case syscall.SIGWINCH:
		return StopWorkers
	case syscall.SIGCHLD:
		return ChildExited
	}
	return None
}

func (a Action) String() string {
	return [...]string{"none", "reload", "graceful-stop", "fast-stop", "add-worker", "remove-worker",
		"reopen-logs", "upgrade", "stop-workers", "child-exited"}[a]
}

// Name returns the short name of sig ("HUP"), as in kill -l.
func Name(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		if n := unix.SignalName(s); n != "" {
			return strings.TrimPrefix(n, "SIG")
		}
	}
	return sig.String()
}

// Parse accepts "HUP", "SIGHUP", "hup" or a number.
func Parse(name string) (syscall.Signal, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "" {
		return 0, fmt.Errorf("parse signal: empty name")
	}
	var num int
	if _, err := fmt.Sscanf(n, "%d", &num); err == nil && fmt.Sprint(num) == n {
		if num <= 0 || num >= 65 {
			return 0, fmt.Errorf("parse signal %q: out of range", name)
		}
		return syscall.Signal(num), nil
	}
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	if s := unix.SignalNum(n); s != 0 {
		return s, nil
	}
	return 0, fmt.Errorf("parse signal %q: unknown signal", name)
}

// Send delivers sig to pid. ESRCH is reported as "no process".
func Send(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		return fmt.Errorf("send %s: bad pid %d", Name(sig), pid)
	}
	if err := unix.Kill(pid, sig); err != nil {
		if err == unix.ESRCH {
			return fmt.Errorf("send %s to %d: no such process", Name(sig), pid)
		}
		return fmt.Errorf("send %s to %d: %w", Name(sig), pid, err)
	}
	return nil
}

// Alive reports whether a process with this pid exists (EPERM counts as alive).
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

// Queue relays signals from the runtime into an unbounded FIFO, so that a
// burst that arrives while the master handles one signal is not dropped by
// os/signal's non-blocking send. Signals of the same kind that are still
// waiting are coalesced where one delivery means the same as several (HUP,
// USR1, CHLD, TERM, INT, QUIT, WINCH, USR2); TTIN and TTOU are counted one by
// one. As with any POSIX signal, two deliveries that the kernel itself merges
// before the runtime sees them count once.
type Queue struct {
	in   chan os.Signal
	out  chan os.Signal
	done chan struct{}
}

// NewQueue starts relaying sigs. Stop must be called to release the relay.
func NewQueue(sigs ...os.Signal) *Queue {
	q := &Queue{in: make(chan os.Signal, 256), out: make(chan os.Signal), done: make(chan struct{})}
	signal.Notify(q.in, sigs...)
	go q.relay()
	return q
}

// C delivers the queued signals in order.
func (q *Queue) C() <-chan os.Signal { return q.out }

// Stop stops the relay and restores default handling of the signals.
func (q *Queue) Stop() {
	signal.Stop(q.in)
	close(q.done)
}

func (q *Queue) relay() {
	var pending []os.Signal
	for {
		var out chan os.Signal
		var next os.Signal
		if len(pending) > 0 {
			out, next = q.out, pending[0]
		}
		select {
		case s := <-q.in:
			pending = Coalesce(pending, s)
		case out <- next:
			pending = pending[1:]
		case <-q.done:
			return
		}
	}
}

// Coalesce appends s to pending unless an equivalent signal is already waiting.
func Coalesce(pending []os.Signal, s os.Signal) []os.Signal {
	switch s {
	case syscall.SIGTTIN, syscall.SIGTTOU:
		return append(pending, s)
	}
	for _, p := range pending {
		if p == s {
			return pending
		}
	}
	return append(pending, s)
}
