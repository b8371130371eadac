// Package arbitertest runs an arbiter application in the test's own process,
// the way a worker runs it: PostFork, Load, PostWorkerInit, the HTTP server
// with arbiter's limits, the drain, and WorkerExit. It is to arbiter
// programs what net/http/httptest is to handlers: a test can exercise the
// hooks and the handler without a master or a re-executed binary.
//
// The worker runtime installs its signal handling in the process (TERM,
// INT, QUIT and USR1 are handled while a Server runs; HUP, TTIN, TTOU, USR2
// and WINCH are ignored from then on), and sets the identity arbiter.Self
// reports. Run one Server at a time.
package arbitertest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/ipc"
	"github.com/arbiter-dev/arbiter/worker"
)

// Server is one in-process worker serving HTTP on a loopback port.
type Server struct {
	// URL is the base URL of the server, like "http://127.0.0.1:41234".
	URL string

	ln       net.Listener
	control  *ipc.Writer
	ctrlFile *os.File
	status   *os.File
	done     chan error
}

// Start runs app as worker 1 of generation 1 and returns once it is ready.
// toml is an optional config (the same keys as app.toml; [app] type
// defaults to "go", [[listen]] is ignored); log receives the worker's log
// lines (nil discards them). An error from a hook or Load is returned.
func Start(app worker.App, toml string, log io.Writer) (*Server, error) {
	cfg, err := config.Parse("", []byte(toml), config.Overrides{Workers: 1, DefaultApp: config.AppGo}, nil)
	if err != nil {
		return nil, fmt.Errorf("arbitertest: config: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("arbitertest: %w", err)
	}
	var fds []int
	cleanup := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
		ln.Close()
	}
	lfd, err := dupConn(ln.(*net.TCPListener))
	if err != nil {
		cleanup()
		return nil, err
	}
	fds = append(fds, lfd)
	ctrlR, ctrlW, err := os.Pipe()
	if err != nil {
		cleanup()
		return nil, err
	}
	statR, statW, err := os.Pipe()
	if err != nil {
		ctrlR.Close()
		ctrlW.Close()
		cleanup()
		return nil, err
	}
	// The worker owns duplicates of its ends, as it would own inherited fds.
	cfd, err1 := unix.FcntlInt(ctrlR.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	sfd, err2 := unix.FcntlInt(statW.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	ctrlR.Close()
	statW.Close()
	if err := errors.Join(err1, err2); err != nil {
		ctrlW.Close()
		statR.Close()
		cleanup()
		return nil, fmt.Errorf("arbitertest: %w", err)
	}
	boot := &ipc.Boot{ID: 1, Generation: 1, ControlFD: cfd, StatusFD: sfd, Config: cfg,
		Listeners: []ipc.Listener{{FD: lfd, Address: ln.Addr().String(), Protocol: config.ProtoHTTP}}}
	if log == nil {
		log = io.Discard
	}
	s := &Server{URL: "http://" + ln.Addr().String(), ln: ln, control: ipc.NewWriter(ctrlW), ctrlFile: ctrlW,
		status: statR, done: make(chan error, 1)}
	go func() { s.done <- worker.Run(boot, app, zerolog.New(log)) }()

	ready := make(chan error, 1)
	go func() {
		r := ipc.NewReader(statR)
		for {
			m, err := r.Read()
			if err != nil {
				ready <- err
				return
			}
			if m.Kind == ipc.KindReady {
				ready <- nil
				// Keep draining heartbeats so the worker never blocks on a full pipe.
				_, _ = io.Copy(io.Discard, statR)
				return
			}
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			err = <-s.done
			s.release()
			return nil, err
		}
	case err := <-s.done:
		s.release()
		return nil, err
	case <-time.After(time.Duration(max(cfg.Timeout, 10*time.Second))):
		s.Close()
		return nil, errors.New("arbitertest: the worker did not become ready")
	}
	return s, nil
}

// Close stops the worker gracefully, as the master would (in-flight
// requests finish, keep-alive connections end at a request boundary), and
// returns once it has exited: WorkerExit has run by then.
func (s *Server) Close() error {
	_ = s.control.Send(ipc.Message{Kind: ipc.KindStop, Graceful: true})
	err := <-s.done
	s.release()
	return err
}

func (s *Server) release() {
	s.ctrlFile.Close()
	s.status.Close()
	s.ln.Close()
}

func dupConn(ln *net.TCPListener) (int, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("arbitertest: dup listener: %w", derr)
	}
	return fd, nil
}
