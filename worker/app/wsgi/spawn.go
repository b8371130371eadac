package wsgi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// runnerSource is the Python side (runner/arbiter_wsgi.py). Each process
// reads it from a sealed memfd passed as fd 3, so nothing is written to disk
// and every process of a worker runs the same bytes.
//
//go:embed runner/arbiter_wsgi.py
var runnerSource []byte

// runnerPath is how the interpreter is told to read the runner.
const runnerPath = "/proc/self/fd/3"

// runnerMemfd returns a sealed, close-on-exec memfd holding runnerSource.
func runnerMemfd() (int, error) {
	fd, err := unix.MemfdCreate("arbiter_wsgi.py", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("memfd for the runner: %w", err)
	}
	for b := runnerSource; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("write the runner: %w", err)
		}
		b = b[n:]
	}
	_, _ = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL)
	return fd, nil
}

// spawner starts processes from one OS thread that lives as long as the
// pool. Their parent-death signal (SIGKILL) fires when the thread that
// forked them exits (golang/go#27505), so forking from whatever thread a
// goroutine happens to run on would kill app processes at random when the
// Go runtime retires that thread. When the pool closes, the thread exits,
// and with it whatever process is somehow still alive.
type spawner struct {
	reqs chan spawnReq
	done chan struct{}
}

type spawnReq struct {
	path  string
	argv  []string
	attr  *syscall.ProcAttr
	reply chan spawnResult
}

type spawnResult struct {
	pid int
	err error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer close(s.done)
		for r := range s.reqs {
			pid, err := syscall.ForkExec(r.path, r.argv, r.attr)
			r.reply <- spawnResult{pid, err}
		}
	}()
	return s
}

func (s *spawner) start(path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	if attr.Sys == nil {
		attr.Sys = &syscall.SysProcAttr{}
	}
	attr.Sys.Pdeathsig = syscall.SIGKILL
	reply := make(chan spawnResult, 1)
	s.reqs <- spawnReq{path, argv, attr, reply}
	r := <-reply
	return r.pid, r.err
}

// stop ends the thread once no more processes will be started.
func (s *spawner) stop() {
	close(s.reqs)
	<-s.done
}

// socketPair returns the worker's end of a unix stream socket pair, ready
// for Go's poller, and the other end as a raw blocking close-on-exec fd for
// a child (ForkExec clears close-on-exec on the fds it places).
func socketPair() (*net.UnixConn, int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, -1, fmt.Errorf("socketpair: %w", err)
	}
	f := os.NewFile(uintptr(fds[0]), "wsgi-slot")
	c, err := net.FileConn(f) // dups it, non-blocking, close-on-exec
	f.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, -1, fmt.Errorf("socketpair: %w", err)
	}
	return c.(*net.UnixConn), fds[1], nil
}

// pipe returns a pipe's read end for the worker's poller and its write end
// as a raw blocking close-on-exec fd for a child.
func pipe(name string) (*os.File, int, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, -1, fmt.Errorf("pipe: %w", err)
	}
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, -1, fmt.Errorf("pipe: %w", err)
	}
	return os.NewFile(uintptr(p[0]), name), p[1], nil
}

// childFDs are the descriptors made for one app process: the worker keeps
// the first group, the process gets the second.
type childFDs struct {
	slots  []*net.UnixConn
	stderr *os.File
	dump   *os.File

	childSlots  []int
	childStderr int
	childDump   int
}

func newChildFDs(threads int) (*childFDs, error) {
	c := &childFDs{childStderr: -1, childDump: -1}
	var err error
	if c.stderr, c.childStderr, err = pipe("wsgi-stderr"); err != nil {
		return nil, err
	}
	if c.dump, c.childDump, err = pipe("wsgi-dump"); err != nil {
		c.close()
		return nil, err
	}
	for range threads {
		conn, fd, err := socketPair()
		if err != nil {
			c.close()
			return nil, err
		}
		c.slots = append(c.slots, conn)
		c.childSlots = append(c.childSlots, fd)
	}
	return c, nil
}

// closeChild closes the child's ends once it has them (after ForkExec, or
// after the zygote received them).
func (c *childFDs) closeChild() {
	for _, fd := range append([]int{c.childStderr, c.childDump}, c.childSlots...) {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	c.childSlots, c.childStderr, c.childDump = nil, -1, -1
}

// close closes everything (a spawn that failed).
func (c *childFDs) close() {
	c.closeChild()
	for _, s := range c.slots {
		s.Close()
	}
	if c.stderr != nil {
		c.stderr.Close()
	}
	if c.dump != nil {
		c.dump.Close()
	}
}

// runnerConfig is ARBITER_WSGI, the runner's settings.
type runnerConfig struct {
	Mode         string   `json:"mode"` // serve, zygote, check
	Module       string   `json:"module"`
	PythonPath   []string `json:"pythonpath"`
	Threads      int      `json:"threads"`
	Multiprocess bool     `json:"multiprocess"`
	SchedBatch   bool     `json:"sched_batch,omitempty"`
	Dump         int      `json:"dump,omitempty"`
	Slots        []int    `json:"slots,omitempty"`
	Ctl          int      `json:"ctl,omitempty"`
}

// processAttr builds the environment and fds of an interpreter started with
// the runner on fd 3 and extra on fds 4, 5, ...
func (p *pool) processAttr(rc runnerConfig, stderr int, extra []int) *syscall.ProcAttr {
	b, _ := json.Marshal(rc)
	env := append(append([]string(nil), p.env...), "ARBITER_WSGI="+string(b))
	files := []uintptr{p.devnull.Fd(), uintptr(stderr), uintptr(stderr), uintptr(p.runner)}
	for _, fd := range extra {
		files = append(files, uintptr(fd))
	}
	return &syscall.ProcAttr{Dir: p.cfg.Dir, Env: env, Files: files}
}

// argv is the process's command line, labelled for ps.
func (p *pool) argv(mode string) []string {
	return []string{p.cfg.Python, runnerPath, "arbiter-wsgi", mode, p.cfg.Module}
}

func (p *pool) runnerConfig(mode string) runnerConfig {
	return runnerConfig{Mode: mode, Module: p.cfg.Module, PythonPath: p.cfg.PythonPath,
		Threads: p.cfg.Threads, Multiprocess: p.cfg.Multiprocess, SchedBatch: p.cfg.SchedBatch}
}

// startDirect starts a serving process that imports the app itself.
func (p *pool) startDirect(fds *childFDs) (int, error) {
	rc := p.runnerConfig("serve")
	extra := append([]int{fds.childDump}, fds.childSlots...)
	rc.Dump = 4
	for i := range fds.childSlots {
		rc.Slots = append(rc.Slots, 5+i)
	}
	return p.sp.start(p.cfg.Python, p.argv("serve"), p.processAttr(rc, fds.childStderr, extra))
}

// spawnMessage is a SPAWN frame's payload; the fds travel with it, in the
// order stderr, dump, slots.
type spawnMessage struct {
	FDs   int `json:"fds"`
	Index int `json:"index"`
}

// startForked asks the zygote to fork a serving process.
func (z *zygote) startForked(id int, fds *childFDs) error {
	all := append([]int{fds.childStderr, fds.childDump}, fds.childSlots...)
	b, _ := json.Marshal(spawnMessage{FDs: len(all), Index: id})
	frame := appendHeader(make([]byte, 0, hdrLen+len(b)), frameSpawn, len(b))
	frame = append(frame, b...)
	z.wmu.Lock()
	defer z.wmu.Unlock()
	n, _, err := z.ctl.WriteMsgUnix(frame, unix.UnixRights(all...), nil)
	if err == nil && n < len(frame) {
		_, err = z.ctl.Write(frame[n:])
	}
	if err != nil {
		return fmt.Errorf("ask the zygote to fork: %w", err)
	}
	return nil
}
