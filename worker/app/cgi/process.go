package cgi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Times and limits of a script run's end.
const (
	// lingerGrace is how long a script may keep running after its output
	// ended before its process group gets SIGTERM; termGrace is how long
	// after that it gets SIGKILL (Apache's mod_cgi does the same, with 3 s).
	lingerGrace = 2 * time.Second
	termGrace   = time.Second
	// stderrGrace is how long stderr is still read after the script was
	// reaped: a process it left behind may hold the pipe open.
	stderrGrace = 100 * time.Millisecond
	// bodyGrace is how long a stdin feed that waits on a request body the
	// handler cannot interrupt (FastCGI, SCGI, uwsgi) is waited for; those
	// servers end such a read once the handler returns.
	bodyGrace = 100 * time.Millisecond
	// Per run, at most maxStderrLines lines of stderr, each cut at
	// maxStderrLine bytes, are logged; the rest is read and counted.
	maxStderrLines = 100
	maxStderrLine  = 4 << 10
)

// stderrReaders hold the readers of scripts' stderr, each the size of the
// longest line logged: most scripts write nothing there.
var stderrReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxStderrLine) }}

// aLongTimeAgo is a deadline in the past: it makes pending reads fail now.
var aLongTimeAgo = time.Unix(1, 0)

// killReason says why a run's process group was killed.
type killReason int

const (
	reasonNone       killReason = iota
	reasonTimeout               // script_timeout passed
	reasonClientGone            // the request context ended
	reasonShutdown              // Handler.Close
	reasonAbandoned             // its output was invalid, or could not be delivered
	reasonLingering             // still running lingerGrace after its output ended
	reasonBodyCut               // the request body could not be read to its end
)

func (k killReason) String() string {
	return [...]string{"", "timeout", "client gone", "shutdown", "abandoned", "still running after its output ended", "request body cut short"}[k]
}

// proc is one running script.
//
// The leader's pid is the process group id (Setpgid). The group is only
// ever signalled before the leader is reaped: until then the pid cannot be
// reused, so kill(-pid) cannot reach another group. finish reaps the
// leader while holding p.mu, in the same critical section that sets
// p.reaped, after which nothing signals the group; a leader still running
// then is waited for with waitid(WNOWAIT) (waitExit), which leaves it a
// zombie, so that it can still be killed until it is reaped.
type proc struct {
	h      *Handler
	pid    int
	script string
	start  time.Time

	// status and usage are the leader's, set when finish reaps it.
	status syscall.WaitStatus
	usage  syscall.Rusage

	stdout *os.File // read end
	stderr *os.File // read end
	stdin  *os.File // write end; nil when the script reads a file or /dev/null

	exited     chan struct{} // the leader has exited (still a zombie)
	stderrDone chan struct{}
	feedDone   chan struct{} // nil without a feed
	stdinOnce  sync.Once
	unblock    func() bool

	mu        sync.Mutex
	reaped    bool
	why       killReason
	stopTimer func() bool
	stopSlow  func() bool
	stopCtx   func() bool
}

// start runs argv with env in a new process group. Its stdout and stderr are
// pipes; stdin is in.
//
// syscall.ForkExec forks with clone(CLONE_VFORK|CLONE_VM) under
// syscall.ForkLock, and a child gets exactly fds 0, 1 and 2, because every
// fd the Go runtime and standard library open is O_CLOEXEC (and New marks
// inherited ones close-on-exec). It is used rather than os/exec, whose
// extras (a pidfd per child, *os.File wrappers for the child's ends, an
// environment de-duplication) cost a tenth of the worker's time per run
// and buy nothing here: proc waits for and reaps the leader itself.
// Setpgid puts the script in its own group, so that a timeout or a client
// that goes away kills its children too; Pdeathsig kills the script if the
// worker dies first (the master, a subreaper, reaps it). Linux ties
// Pdeathsig to the thread that forked, and Go ends a thread only when a
// goroutine exits while locked to it (runtime.LockOSThread), which the
// worker never does; a program that embeds this package and does so could
// see scripts killed early.
func (h *Handler) start(ctx context.Context, t *target, env []string, in stdinSource) (*proc, error) {
	var pipes pipeSet
	defer pipes.closeChildEnds() // the child has its copies by then
	fail := func(err error) (*proc, error) {
		pipes.closeParentEnds()
		return nil, err
	}
	outR, outW, err := pipes.open(true)
	if err != nil {
		return fail(err)
	}
	errR, errW, err := pipes.open(true)
	if err != nil {
		return fail(err)
	}
	stdin := h.devNull
	var inW *os.File
	switch {
	case in.file != nil:
		stdin = int(in.file.Fd()) // a regular file: Fd leaves its mode alone
	case in.reader != nil:
		if inW, stdin, err = pipes.open(false); err != nil {
			return fail(err)
		}
	}
	dir := h.dir
	if dir == "" {
		dir = filepath.Dir(t.filename)
	}
	pid, err := syscall.ForkExec(t.argv[0], t.argv, &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []uintptr{uintptr(stdin), uintptr(outW), uintptr(errW)},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	runtime.KeepAlive(in.file)
	if err != nil {
		return fail(&os.PathError{Op: "fork/exec", Path: t.argv[0], Err: err})
	}
	p := &proc{
		h:          h,
		pid:        pid,
		script:     t.filename,
		start:      time.Now(),
		stdout:     outR,
		stderr:     errR,
		stdin:      inW,
		exited:     make(chan struct{}),
		stderrDone: make(chan struct{}),
		unblock:    in.unblock,
	}
	go p.drainStderr()
	if inW != nil {
		p.feedDone = make(chan struct{})
		go p.feed(in.reader)
	}
	if !h.track(p) {
		p.kill(reasonShutdown)
	}
	p.mu.Lock()
	if h.timeout > 0 {
		p.stopTimer = time.AfterFunc(h.timeout, func() { p.kill(reasonTimeout) }).Stop
	}
	if h.slow > 0 && (h.timeout == 0 || h.slow < h.timeout) {
		p.stopSlow = time.AfterFunc(h.slow, p.logSlow).Stop
	}
	p.stopCtx = context.AfterFunc(ctx, func() { p.kill(reasonClientGone) })
	p.mu.Unlock()
	return p, nil
}

// reapNow reaps the leader if it has exited, without waiting, and
// reports whether it did. The caller holds p.mu, so that no signal can be
// sent to the group between the reaping and p.reaped being set.
func (p *proc) reapNow() bool {
	for {
		pid, err := syscall.Wait4(p.pid, &p.status, syscall.WNOHANG, &p.usage)
		if err == syscall.EINTR {
			continue
		}
		return err == nil && pid == p.pid
	}
}

// waitExited waits for p.exited; a leader still running lingerGrace later
// gets SIGTERM, then SIGKILL.
func (p *proc) waitExited() {
	select {
	case <-p.exited:
	case <-time.After(lingerGrace):
		p.signal(syscall.SIGTERM, reasonLingering)
		select {
		case <-p.exited:
		case <-time.After(termGrace):
			p.kill(reasonLingering)
			<-p.exited
		}
	}
}

// pipeSet holds the pipes of one run while it starts.
type pipeSet struct {
	parent []*os.File // the worker's ends
	child  []int      // the child's ends
}

// open makes a pipe and returns the worker's end (the read end when
// parentReads, else the write end), non-blocking and in the poller, and
// the child's end, a blocking raw fd: no fcntl or epoll_ctl is spent on
// it. Both are close-on-exec; ForkExec's dup2 clears the flag on the copy
// the child gets.
func (ps *pipeSet) open(parentReads bool) (parent *os.File, child int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, -1, os.NewSyscallError("pipe2", err)
	}
	p, c, name := fds[1], fds[0], "|1"
	if parentReads {
		p, c, name = fds[0], fds[1], "|0"
	}
	// A new pipe has no status flags but its access mode, which F_SETFL
	// ignores: no F_GETFL needed.
	if _, err := unix.FcntlInt(uintptr(p), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, -1, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(p), name)
	ps.parent = append(ps.parent, f)
	ps.child = append(ps.child, c)
	return f, c, nil
}

// closeChildEnds closes the child's ends: after the child has its copies,
// or when it could not be started. A second call does nothing.
func (ps *pipeSet) closeChildEnds() {
	for _, fd := range ps.child {
		unix.Close(fd)
	}
	ps.child = nil
}

// closeParentEnds closes the worker's ends, when the child could not be
// started.
func (ps *pipeSet) closeParentEnds() {
	for _, f := range ps.parent {
		f.Close()
	}
	ps.parent = nil
}

// waitExit closes p.exited when the leader exits, without reaping it.
func (p *proc) waitExit() {
	defer close(p.exited)
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// kill sends SIGKILL to the process group, unless the leader was reaped,
// and makes reads of stdout fail from now on (a process that left the
// group could hold it open). The first reason sticks.
func (p *proc) kill(why killReason) { p.signal(syscall.SIGKILL, why) }

// signal records why (the first reason sticks), and sends sig to the group
// unless the leader was reaped. For SIGKILL, stdout's read deadline is set
// in the past before the signal, so that a pending read fails rather than
// see the end of output the kill causes, and after the reason is recorded,
// so that whoever sees the read fail learns why.
func (p *proc) signal(sig syscall.Signal, why killReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return
	}
	if p.why == reasonNone {
		p.why = why
	}
	if sig == syscall.SIGKILL {
		p.stdout.SetReadDeadline(aLongTimeAgo)
	}
	_ = syscall.Kill(-p.pid, sig)
}

// reason returns why the group was killed, reasonNone if it was not.
func (p *proc) reason() killReason {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.why
}

// finish ends the run: it kills the group first when abort is not
// reasonNone, closes stdout, waits for the leader to exit (a leader still
// running lingerGrace later gets SIGTERM, then SIGKILL), reaps it, collects
// stderr and the stdin feed, and logs the exit status. It must be called
// exactly once, by the goroutine serving the request.
func (p *proc) finish(abort killReason) {
	if abort != reasonNone {
		p.kill(abort)
	}
	p.stdout.Close() // a script still writing gets EPIPE (or SIGPIPE) and ends
	p.mu.Lock()
	if !p.reapNow() { // usually it has exited by now: one wait4 does
		p.mu.Unlock()
		go p.waitExit()
		p.waitExited()
		p.mu.Lock()
		p.reap()
	}
	p.reaped = true
	if p.stopTimer != nil {
		p.stopTimer()
	}
	if p.stopSlow != nil {
		p.stopSlow()
	}
	p.stopCtx()
	why := p.why
	p.mu.Unlock()
	p.h.untrack(p)

	select {
	case <-p.stderrDone:
	case <-time.After(stderrGrace):
		p.stderr.Close()
		<-p.stderrDone
	}
	p.stderr.Close()
	if p.feedDone != nil {
		p.closeStdin()
		select {
		case <-p.feedDone:
		default:
			if p.unblock != nil && p.unblock() {
				<-p.feedDone
			} else {
				select {
				case <-p.feedDone:
				case <-time.After(bodyGrace):
				}
			}
		}
	}

	ev := p.h.log.Debug()
	if !p.status.Exited() || p.status.ExitStatus() != 0 || why != reasonNone {
		ev = p.h.log.Warn()
	}
	if why != reasonNone {
		ev = ev.Str("killed", why.String())
	}
	ev.Str("script", p.script).Int("pid", p.pid).Str("exit", p.exitString()).
		Dur("duration", time.Since(p.start)).
		Dur("cpu", time.Duration(p.usage.Utime.Nano()+p.usage.Stime.Nano())).Msg("cgi exit")
}

// reap waits for the leader, which has exited (finish waited for that),
// and records its status and resource usage. The caller holds p.mu.
func (p *proc) reap() {
	for {
		_, err := syscall.Wait4(p.pid, &p.status, 0, &p.usage)
		if err != syscall.EINTR {
			return
		}
	}
}

// exitString describes the leader's exit status once reaped: "0", "1",
// "signal SIGKILL".
func (p *proc) exitString() string {
	if p.status.Signaled() {
		return "signal " + unix.SignalName(p.status.Signal())
	}
	return strconv.Itoa(p.status.ExitStatus())
}

// feed copies the request body into the script's stdin and then closes it.
// It ends early when the script closes its stdin or exits (EPIPE), or when
// finish closes the pipe. A body that cannot be read to its end (the client
// stopped sending: a short body, a cut chunk, a read timeout) kills the
// group before stdin is closed, so that the script never takes the part it
// got for the whole body and answers it.
func (p *proc) feed(src io.Reader) {
	defer close(p.feedDone)
	r := &readErr{r: src}
	_, _ = io.Copy(p.stdin, r)
	if r.err != nil {
		p.kill(reasonBodyCut) // nothing once finish has reaped the leader
	}
	p.closeStdin()
}

// readErr remembers the first error of its reader other than io.EOF, so
// that a failed read can be told from a failed write to the script.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// outputComplete runs when the script's response is complete (its
// Content-Length is written): a client that hangs up from then on no
// longer kills the run, which still ends at the end of its output, or at
// lingerGrace after it.
func (p *proc) outputComplete() { p.stopCtx() }

func (p *proc) closeStdin() {
	p.stdinOnce.Do(func() { p.stdin.Close() })
}

// drainStderr logs what the script writes to stderr, line by line, as it
// comes, tagged with the script and its pid.
func (p *proc) drainStderr() {
	defer close(p.stderrDone)
	br := stderrReaders.Get().(*bufio.Reader)
	br.Reset(p.stderr)
	defer func() {
		br.Reset(nil)
		stderrReaders.Put(br)
	}()
	lines, dropped := 0, 0
	for {
		line, err := br.ReadSlice('\n')
		if text := strings.TrimRight(string(line), "\r\n"); text != "" {
			if lines < maxStderrLines {
				p.h.log.Warn().Str("script", p.script).Int("pid", p.pid).Str("stderr", text).Msg("cgi stderr")
				lines++
			} else {
				dropped += len(line)
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			break
		}
	}
	if dropped > 0 {
		p.h.log.Warn().Str("script", p.script).Int("pid", p.pid).Int("bytes", dropped).
			Msgf("cgi stderr: more than %d lines; the rest was not logged", maxStderrLines)
	}
}

// logSlow is slow_request_log's line for a script still running.
func (p *proc) logSlow() {
	p.mu.Lock()
	done := p.reaped
	p.mu.Unlock()
	select {
	case <-p.exited:
		done = true
	default:
	}
	if !done {
		p.h.log.Warn().Str("script", p.script).Int("pid", p.pid).Dur("elapsed", time.Since(p.start)).Msg("slow request")
	}
}
