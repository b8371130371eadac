// Package worker is the worker process: it boots from the environment and
// the file descriptors its master passed, serves every listener in its
// protocol, reports to the master over a pipe, and drains on request.
//
// Edges:
//   - EOF on the control pipe (the master died, even by SIGKILL) starts a
//     graceful drain; the worker is gone at most graceful_timeout later.
//   - A failed heartbeat write (EPIPE) means the same.
//   - SIGTERM drains like a graceful stop message (systemd sends TERM to the
//     whole control group); SIGINT and SIGQUIT stop at once.
//   - SIGHUP, SIGTTIN, SIGTTOU, SIGUSR2 and SIGWINCH, meant for the master
//     (a terminal or `kill -- -PGID` sends them to the group), are ignored.
//   - SIGPIPE does not kill the worker: after the master is gone, its log
//     lines to the dead pipe are lost, and the drain goes on.
//   - SIGABRT keeps the Go runtime's default: every goroutine's stack is
//     written to stderr, which the master logs, and the process exits.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/ipc"
	"github.com/arbiter-dev/arbiter/worker/info"
)

// Errors that decide a worker's exit code (mapped once, in cmd).
var (
	// ErrBoot: the worker could not start (bad boot document, unusable fds).
	ErrBoot = errors.New("worker boot failed")
	// ErrAppLoad: the application could not be built from the config.
	ErrAppLoad = errors.New("app load failed")
)

// server is what every protocol server provides: net/http's *http.Server
// has this shape, and so do the FastCGI, SCGI and uwsgi servers.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

type stopRequest struct {
	graceful bool
	why      string
}

// Run boots the worker described by boot and serves until it is told to
// stop, the master goes away, or a signal ends it. It returns nil after a
// clean stop and an error wrapping ErrBoot or ErrAppLoad when it cannot start.
func Run(boot *ipc.Boot, app App, log zerolog.Logger) error {
	cfg := boot.Config
	self := info.Worker{ID: boot.ID, Generation: boot.Generation, PID: os.Getpid()}
	info.Set(self)
	setProcessName()
	// The worker's stderr is a pipe the master reads. Once the master is
	// gone, a log line written there must fail with EPIPE, not kill the
	// worker with SIGPIPE (the Go runtime's default for fds 1 and 2) before
	// its drain ends and it kills the CGI scripts still running. Notify,
	// unlike Ignore, leaves the signal at its default in what the worker
	// execs.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if err := app.postFork(self); err != nil {
		return fmt.Errorf("%w: %w", ErrBoot, err)
	}
	defer app.workerExit(self, log)

	control, err := inheritedFile(boot.ControlFD, "control")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBoot, err)
	}
	defer control.Close()
	statusFile, err := inheritedFile(boot.StatusFD, "status")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBoot, err)
	}
	defer statusFile.Close()
	status := ipc.NewWriter(statusFile)

	access, err := openAccessLog(cfg.Log.AccessLog, log)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBoot, err)
	}
	defer access.Close()

	stops := make(chan stopRequest, 4)
	requestStop := func(r stopRequest) {
		select {
		case stops <- r:
		default:
		}
	}
	recycle := func(reason string) {
		if err := status.Send(ipc.Message{Kind: ipc.KindRecycle, Reason: reason}); err != nil {
			requestStop(stopRequest{graceful: true, why: "status pipe closed"})
		}
	}
	handler, err := buildApp(cfg, app, log, recycle)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAppLoad, err)
	}
	if c, ok := handler.(io.Closer); ok {
		defer c.Close() // after the servers stop: ends what is still running (cgi scripts)
	}

	tr := newTracker(boot.MaxRequests, func() { recycle(ipc.RecycleMaxRequests) })
	if ap, ok := handler.(appProcesses); ok {
		tr.apps = ap.AppProcesses
	}
	handler = access.wrap(handler)

	listeners := make([]net.Listener, 0, len(boot.Listeners))
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	servers := make([]server, 0, len(boot.Listeners))
	for _, bl := range boot.Listeners {
		l, err := inheritedListener(bl)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBoot, err)
		}
		listeners = append(listeners, l)
		srv, err := newServer(bl, cfg, tr.wrap(handler), log)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBoot, err)
		}
		servers = append(servers, srv)
	}

	// The app is built and the listeners are open, but nothing is
	// accepted yet.
	if err := app.postWorkerInit(self); err != nil {
		return fmt.Errorf("%w: %w", ErrAppLoad, err)
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1)
	signal.Ignore(syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(sigs)

	var serving sync.WaitGroup
	for i, srv := range servers {
		serving.Add(1)
		go func(srv server, l net.Listener, addr string) {
			defer serving.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				log.Error().Err(err).Str("listener", addr).Msg("serve failed")
				requestStop(stopRequest{graceful: true, why: "serve failed on " + addr})
			}
		}(srv, listeners[i], boot.Listeners[i].Address)
	}

	if err := status.Send(ipc.Message{Kind: ipc.KindReady, Stats: tr.stats()}); err != nil {
		requestStop(stopRequest{graceful: true, why: "status pipe closed"})
	}
	log.Debug().Int("listeners", len(servers)).Msg("serving")

	go readControl(control, access, requestStop, log)
	hbDone := make(chan struct{})
	defer close(hbDone)
	go heartbeat(status, tr, heartbeatInterval(cfg.Timeout), hbDone, requestStop)

	var stop stopRequest
wait:
	for {
		select {
		case stop = <-stops:
			break wait
		case s := <-sigs:
			switch s {
			case syscall.SIGUSR1:
				access.Reopen()
			case syscall.SIGTERM:
				stop = stopRequest{graceful: true, why: "SIGTERM"}
				break wait
			default:
				stop = stopRequest{graceful: false, why: "SIG" + s.String()}
				break wait
			}
		}
	}

	log.Debug().Bool("graceful", stop.graceful).Str("why", stop.why).Msg("worker stopping")
	if stop.graceful {
		// Drain, but keep listening for a fast stop (the master escalating
		// on INT/QUIT, or a signal) and cut the drain short on one.
		ctx, cancel := context.WithTimeout(context.Background(), cfg.GracefulTimeout)
		drained := make(chan struct{})
		go func() { drainAll(ctx, servers, log); close(drained) }()
	draining:
		for {
			select {
			case <-drained:
				break draining
			case s := <-stops:
				if !s.graceful {
					log.Debug().Str("why", s.why).Msg("fast stop during the drain")
					cancel()
				}
			case s := <-sigs:
				if s == syscall.SIGINT || s == syscall.SIGQUIT {
					cancel()
				}
			}
		}
		cancel()
	} else {
		for _, srv := range servers {
			srv.Close()
		}
	}
	serving.Wait()
	return nil
}

// drainAll shuts every server down at once and returns when all are done or
// ctx expires, in which case the rest are closed.
func drainAll(ctx context.Context, servers []server, log zerolog.Logger) {
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				log.Warn().Err(err).Msg("drain cut short; closing the remaining connections")
				srv.Close()
			}
		}()
	}
	wg.Wait()
}

// readControl turns the master's messages into actions. EOF or a read error
// means the master is gone: drain.
func readControl(control *os.File, access *accessLog, requestStop func(stopRequest), log zerolog.Logger) {
	r := ipc.NewReader(control)
	for {
		m, err := r.Read()
		if err != nil {
			why := "master gone (control pipe EOF)"
			if !errors.Is(err, os.ErrClosed) && err.Error() != "EOF" {
				why = "control pipe: " + err.Error()
			}
			requestStop(stopRequest{graceful: true, why: why})
			return
		}
		switch m.Kind {
		case ipc.KindStop:
			requestStop(stopRequest{graceful: m.Graceful, why: "master asked"})
		case ipc.KindReopenLogs:
			access.Reopen()
		default:
			log.Warn().Stringer("kind", m.Kind).Msg("unexpected control message ignored")
		}
	}
}

func heartbeat(status *ipc.Writer, tr *tracker, every time.Duration, done <-chan struct{}, requestStop func(stopRequest)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if err := status.Send(ipc.Message{Kind: ipc.KindHeartbeat, Stats: tr.stats()}); err != nil {
				requestStop(stopRequest{graceful: true, why: "master gone (status pipe)"})
				return
			}
		}
	}
}

// setProcessName names the process after the binary the master runs as
// (workers are started through /proc/self/exe, which the kernel would call
// "exe"), so that ps and pgrep show workers under the program's name.
func setProcessName() {
	name := filepath.Base(os.Args[0])
	if len(name) > 15 {
		name = name[:15]
	}
	_ = os.WriteFile("/proc/self/comm", []byte(name), 0)
}

// heartbeatInterval is a quarter of timeout, at most one second, so that the
// master's status is fresh and a missed beat or two is not yet a timeout.
func heartbeatInterval(timeout time.Duration) time.Duration {
	d := time.Second
	if timeout > 0 && timeout/4 < d {
		d = timeout / 4
	}
	if d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	return d
}

// inheritedFile wraps a pipe fd passed by the master and marks it
// close-on-exec, so that nothing the worker starts inherits it.
func inheritedFile(fd int, name string) (*os.File, error) {
	if fd < 3 {
		return nil, fmt.Errorf("%s pipe: bad fd %d", name, fd)
	}
	if _, err := unixFcntlGetfd(fd); err != nil {
		return nil, fmt.Errorf("%s pipe fd %d: %w", name, fd, err)
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name), nil
}

// inheritedListener turns a listening socket fd passed by the master into a
// net.Listener. The fd is non-blocking (the master made it so); os.NewFile
// then leaves it alone, and net.FileListener dups it close-on-exec, so the
// original is closed and no child of this worker inherits the socket.
func inheritedListener(bl ipc.Listener) (net.Listener, error) {
	if _, err := unixFcntlGetfd(bl.FD); err != nil {
		return nil, fmt.Errorf("listener %s fd %d: %w", bl.Address, bl.FD, err)
	}
	f := os.NewFile(uintptr(bl.FD), bl.Address)
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listener %s fd %d: %w", bl.Address, bl.FD, err)
	}
	return l, nil
}

// newServer builds the protocol server for one listener.
func newServer(bl ipc.Listener, cfg *config.Config, h http.Handler, log zerolog.Logger) (server, error) {
	switch bl.Protocol {
	case config.ProtoHTTP:
		return newHTTPServer(cfg, h, bl.Protocol, log), nil
	}
	return newProtocolServer(bl, cfg, h, log)
}
