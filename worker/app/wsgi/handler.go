package wsgi

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/ipc"
)

// software is SERVER_SOFTWARE.
const software = "arbiter"

// Config is one WSGI app in one worker.
type Config struct {
	// Module is gunicorn's APP_MODULE: "pkg.module:callable",
	// "pkg.module" (the callable "application"), or
	// "pkg.module:factory(literal args)".
	Module string
	// Python is the interpreter, an absolute path.
	Python string
	// PythonPath goes first in sys.path, before Dir.
	PythonPath []string
	// Env is the processes' environment (NAME=value), the worker's own and
	// [app.env]; ARBITER_WSGI is added.
	Env []string
	// Dir is the processes' working directory, first in sys.path after
	// PythonPath; "" is the worker's.
	Dir string
	// Processes is how many app processes serve; Threads how many requests
	// each takes at a time (one socket and one thread per request).
	Processes, Threads int
	// Preload imports the app once, in a zygote, and forks the processes
	// from it.
	Preload bool
	// SchedBatch runs the processes under SCHED_BATCH (sched(7)): a thread
	// the worker wakes with a request does not preempt the worker, which
	// goes on with the other connections it has to serve first. The
	// policy is set by the runner before it imports the app, so the app's
	// threads have it too; where the kernel refuses it, a line on the
	// process's stderr says so and the process serves anyway.
	SchedBatch bool
	// Multiprocess is wsgi.multiprocess: other processes serve the same
	// app (Processes > 1, or more than one worker).
	Multiprocess bool
	// RequestTimeout bounds the time from handing a request to a process
	// to the end of its response; then the process's threads are dumped
	// into the log and it is killed, and the client gets 504. 0: no limit.
	// It is checked every tenth of itself, from 10 ms to a second (see
	// sweepEvery), as is SlowRequestLog.
	RequestTimeout time.Duration
	// SlowRequestLog logs a request still in its process after it, once,
	// with the traceback of every thread of the process (SIGUSR2 to
	// faulthandler, which leaves it running); 0, or not below
	// RequestTimeout (whose own line has the traceback): off.
	SlowRequestLog time.Duration
	// BootTimeout bounds a replacement process's import, checked every
	// second: one still importing is killed and counts as a failed start
	// (back-off, 503 while nothing serves). 0: no limit. The first boot is
	// bounded by the master's timeout on the worker's readiness; with
	// preload a replacement is forked from the imported zygote and cannot
	// hang in its import.
	BootTimeout time.Duration
	// MaxRequests recycles a process after that many requests, plus up to
	// MaxRequestsJitter more; 0: never.
	MaxRequests, MaxRequestsJitter int
	// MaxMemory recycles a process whose RSS is over it, in bytes; 0: never.
	MaxMemory int64
	// BufferSize is how much of a request or response body is kept in
	// memory; more goes to a temporary file in TempDir.
	BufferSize int64
	// MaxBodySize is the largest request body (413 beyond); 0: no limit.
	MaxBodySize int64
	// TempDir holds the temporary files; "" is os.TempDir().
	TempDir string
	// ScriptName is SCRIPT_NAME, the path the app is mounted at ("" for
	// the root).
	ScriptName string
	// Log gets the app's output, tracebacks and the processes' lives.
	Log zerolog.Logger
}

// maxSpill is how much of a response may wait in its temporary file for a
// slow client before the app process waits too.
const maxSpill = 1 << 30

// Handler serves HTTP requests with a WSGI app running in Python processes
// of its own. It is an http.Handler for every protocol server of the
// worker.
//
// Edges:
//   - A request body is read in full before a process is asked (memory up
//     to BufferSize, then a temporary file); a client that sends slowly
//     holds only a goroutine. A body over MaxBodySize gets 413.
//   - A response is read from the process as fast as it comes, into memory
//     and past BufferSize a temporary file, and sent to the client from
//     there: the process is free as soon as the app returns. Chunks the app
//     yields reach the client as they come.
//   - A process that dies fails the requests it held with 502 (or a cut
//     connection once headers were sent); a request past RequestTimeout
//     gets 504. Others do not notice: a replacement starts.
//   - When no process serves and the last one to start failed, requests get
//     503 at once until one is back.
//   - Close ends every process; requests still waiting get 503.
type Handler struct {
	cfg        Config
	pool       *pool
	log        zerolog.Logger
	scriptName string
}

// New starts the app processes and returns once all of them are ready. An
// app that does not import returns an error with its traceback (an
// *AppLoadError), and nothing is left running.
func New(c Config) (*Handler, error) {
	if c.Processes < 1 {
		c.Processes = 1
	}
	if c.Threads < 1 {
		c.Threads = 1
	}
	if c.BufferSize <= 0 {
		c.BufferSize = 1 << 20
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	p, err := newPool(c)
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: c, pool: p, log: c.Log, scriptName: strings.TrimSuffix(c.ScriptName, "/")}, nil
}

func newPool(c Config) (*pool, error) {
	runner, err := runnerMemfd()
	if err != nil {
		return nil, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		unix.Close(runner)
		return nil, err
	}
	p := &pool{
		cfg: c, log: c.Log, runner: runner, devnull: devnull, sp: newSpawner(),
		env:     c.Env,
		free:    make(chan *slot, 4*c.Processes*c.Threads+16),
		closed:  make(chan struct{}),
		kick:    make(chan struct{}, 1),
		procs:   map[int]*proc{},
		byPID:   map[int]*proc{},
		outputs: map[*os.File]bool{},
		booting: true,
		bootErr: make(chan error, 1),
		broken:  make(chan struct{}),
	}
	p.wg.Add(1)
	go p.supervise()
	p.wake()
	if err := <-p.bootErr; err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// Close stops every app process: their sockets close, they exit, and those
// still there after a grace are killed. It returns when all are reaped.
func (h *Handler) Close() error {
	h.pool.close()
	return nil
}

// AppProcesses describes the processes, for the worker's heartbeat.
func (h *Handler) AppProcesses() []ipc.AppProcess { return h.pool.stats() }

// AppLoadError is an app that did not import: the exception and its
// traceback, as Python printed them.
type AppLoadError struct {
	Module    string
	Exception string // "ModuleNotFoundError: No module named 'x'"
	Traceback string
}

type appLoadError = AppLoadError

func (e *AppLoadError) Error() string {
	return fmt.Sprintf("cannot load the WSGI app %q: %s", e.Module, e.Exception)
}

// IsAppLoad reports whether err is an app that did not import.
func IsAppLoad(err error) bool {
	var e *AppLoadError
	return errors.As(err, &e)
}

// logFrame logs a LOG frame: the first line is the message, the rest (a
// traceback) a field.
func (p *pool) logFrame(log zerolog.Logger, payload []byte) {
	if len(payload) == 0 {
		return
	}
	lvl := zerolog.ErrorLevel
	switch payload[0] {
	case logInfo:
		lvl = zerolog.InfoLevel
	case logWarn:
		lvl = zerolog.WarnLevel
	}
	msg, tb, _ := strings.Cut(string(payload[1:]), "\n")
	ev := log.WithLevel(lvl)
	if tb != "" {
		ev = ev.Str("traceback", tb)
	}
	ev.Msg(msg)
}

var envBufs = sync.Pool{New: func() any { return &env{b: make([]byte, 0, 4096)} }}
