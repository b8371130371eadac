// Package control is the master's control socket (docs/operations.md): a
// unix stream socket, mode 0600, on which a client sends one request and
// reads one reply, each a JSON object on one line ("\n"-terminated). The
// server checks every peer's credentials (SO_PEERCRED): root and the
// master's own uid are served, anyone else gets an error reply and the
// master logs the refusal.
package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Commands.
const (
	CmdStatus  = "status"
	CmdReload  = "reload"
	CmdScale   = "scale"
	CmdUpgrade = "upgrade"
	CmdStop    = "stop"
)

// Request is what a client sends.
type Request struct {
	Command string `json:"command"`
	Workers string `json:"workers,omitempty"` // scale: "N", "+N" or "-N"
	Fast    bool   `json:"fast,omitempty"`    // stop: fast instead of graceful
	// Timeout is how long the client waits for the outcome; the master
	// gives up on the command's wait after it (the command itself goes on).
	// 0 = the master's default, 10 minutes.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Reply is what the master answers, once the command's outcome is known.
type Reply struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`   // why it failed, when !OK
	Message string `json:"message,omitempty"` // what happened, when OK
	// Status is the master's Snapshot (master.Snapshot) for "status".
	Status json.RawMessage `json:"status,omitempty"`
}

// ErrUnreachable wraps a failure to reach the master at all.
var ErrUnreachable = errors.New("cannot reach the master")

// Call sends req to the socket at path and returns the master's reply; it
// waits at most timeout (0 = no limit) for it. A reply with OK false is
// returned as it is, with a nil error.
func Call(path string, req Request, timeout time.Duration) (Reply, error) {
	var r Reply
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return r, fmt.Errorf("%w on control socket %s: %w", ErrUnreachable, path, err)
	}
	defer c.Close()
	if timeout > 0 {
		_ = c.SetDeadline(time.Now().Add(timeout))
		req.Timeout = timeout
	}
	b, err := json.Marshal(req)
	if err != nil {
		return r, fmt.Errorf("control request: %w", err)
	}
	// A refused peer gets its reply before the master reads the request,
	// and may find the connection closed when it sends: read the reply
	// even then.
	_, werr := c.Write(append(b, '\n'))
	line, err := bufio.NewReaderSize(c, 64<<10).ReadBytes('\n')
	switch {
	case err != nil && werr != nil:
		return r, fmt.Errorf("control socket %s: send: %w", path, werr)
	case err != nil:
		return r, fmt.Errorf("control socket %s: no reply (%s): %w", path, req.Command, err)
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("control socket %s: bad reply: %w", path, err)
	}
	return r, nil
}

// Server serves a control socket.
type Server struct {
	l      *net.UnixListener
	path   string
	ino    uint64
	log    zerolog.Logger
	handle func(Request, <-chan struct{}) Reply
	done   chan struct{}
	wg     sync.WaitGroup
	// accepting is closed when the accept loop has returned.
	accepting chan struct{}
}

// Listen binds path (mode 0600), creating its directory (0700) when it is
// missing. replace is for a master taking over on USR2: a socket someone
// listens on is replaced instead of refused. Any other existing socket file
// nobody listens on is removed first; a file that is not a socket is left
// alone and is an error.
// handle runs on the connection's goroutine; the channel it gets closes
// when Close begins.
func Listen(path string, replace bool, log zerolog.Logger, handle func(Request, <-chan struct{}) Reply) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket: %s exists and is not a socket; not removing it", path)
		}
		if !replace {
			if c, err := net.Dial("unix", path); err == nil {
				c.Close()
				return nil, fmt.Errorf("control socket: %s: another master listens on it", path)
			}
		}
		_ = os.Remove(path)
	}
	// The umask makes the file 0600 from the start; chmod makes sure.
	old := syscall.Umask(0o177)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{l: l, path: path, log: log, handle: handle, done: make(chan struct{}), accepting: make(chan struct{})}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err == nil {
		s.ino = st.Ino
	}
	go s.serve()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops accepting, removes the socket file if it is still this
// server's (a new master may have replaced it), and waits up to wait for
// the connections being answered.
func (s *Server) Close(wait time.Duration) {
	close(s.done)
	s.l.Close()
	// The accept loop must have returned before wg.Wait: an Add racing a
	// Wait whose counter is zero is a misuse of the WaitGroup.
	<-s.accepting
	var st unix.Stat_t
	if err := unix.Lstat(s.path, &st); err == nil && st.Ino == s.ino {
		_ = os.Remove(s.path)
	}
	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(wait):
	}
}

func (s *Server) serve() {
	defer close(s.accepting)
	for {
		c, err := s.l.AcceptUnix()
		if err != nil {
			select {
			case <-s.done:
			default:
				s.log.Error().Err(err).Msg("control socket: accept failed; no more commands")
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.serveConn(c)
		}()
	}
}

// serveConn answers one request.
func (s *Server) serveConn(c *net.UnixConn) {
	send := func(r Reply) {
		b, _ := json.Marshal(r)
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(append(b, '\n'))
	}
	cred, err := peerCred(c)
	if err != nil {
		s.log.Error().Err(err).Msg("control socket: cannot read the peer's credentials; refused")
		send(Reply{Error: "permission denied: unknown peer"})
		return
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Getuid() {
		s.log.Warn().Uint32("peer_uid", cred.Uid).Int32("peer_pid", cred.Pid).Int("master_uid", os.Getuid()).
			Msg("control connection refused: the peer is neither root nor the master's user")
		send(Reply{Error: fmt.Sprintf("permission denied: uid %d is neither root nor the master's user (uid %d)", cred.Uid, os.Getuid())})
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReaderSize(c, 4096).ReadSlice('\n')
	if err != nil {
		send(Reply{Error: "bad request: want one JSON object on one line"})
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		send(Reply{Error: "bad request: " + err.Error()})
		return
	}
	ev := s.log.Info()
	if req.Command == CmdStatus { // scripts poll it
		ev = s.log.Debug()
	}
	ev.Str("command", req.Command).Str("workers", req.Workers).Bool("fast", req.Fast).Uint32("peer_uid", cred.Uid).Int32("peer_pid", cred.Pid).Msg("control command")
	send(s.handle(req, s.done))
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}
