package master

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter/logging"
	"github.com/arbiter-dev/arbiter/ipc"
)

// Inherited fd numbers in a worker. Listeners follow, in config order.
const (
	fdControl      = 3
	fdStatus       = 4
	fdFirstListen  = 5
	outputQuietGap = 100 * time.Millisecond
)

// spawn starts one worker of the current generation. The worker is the
// master's own binary run with the hidden worker command; it gets /dev/null
// on stdin, one pipe for stdout and stderr (logged by Capture), the control
// and status pipes, and the listeners. Only the pid is kept: the exit comes
// back through reap.
func (m *Master) spawn() error {
	m.nextID++
	id := m.nextID
	boot := ipc.Boot{
		ID: id, Generation: m.gen, ControlFD: fdControl, StatusFD: fdStatus,
		Config: m.cfg, MaxRequests: m.workerMaxRequests(),
	}
	for i, l := range m.listeners {
		boot.Listeners = append(boot.Listeners, ipc.Listener{
			FD: fdFirstListen + i, Address: l.Addr, Protocol: l.Spec.Protocol, Name: l.Spec.Name,
		})
	}
	env, err := workerEnv(&boot, m.desired)
	if err != nil {
		return fmt.Errorf("spawn worker %d: %w", id, err)
	}

	var closeLater []*os.File
	defer func() {
		for _, f := range closeLater {
			f.Close()
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			closeLater = append(closeLater, r, w)
		}
		return r, w, err
	}
	ctrlR, ctrlW, err := pipe()
	if err != nil {
		return fmt.Errorf("spawn worker %d: %w", id, err)
	}
	statR, statW, err := pipe()
	if err != nil {
		return fmt.Errorf("spawn worker %d: %w", id, err)
	}
	outR, outW, err := pipe()
	if err != nil {
		return fmt.Errorf("spawn worker %d: %w", id, err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("spawn worker %d: %w", id, err)
	}
	closeLater = append(closeLater, devnull)

	// Fd() puts these child-side ends in blocking mode, which is what a
	// child expects of its pipes; the master's ends are separate files.
	files := []uintptr{devnull.Fd(), outW.Fd(), outW.Fd(), ctrlR.Fd(), statW.Fd()}
	for _, l := range m.listeners {
		files = append(files, uintptr(l.FD))
	}
	pid, err := syscall.ForkExec(m.opt.Executable, m.opt.Args, &syscall.ProcAttr{Env: env, Files: files,
		Sys: &syscall.SysProcAttr{Credential: m.cred}})
	if err != nil {
		return fmt.Errorf("spawn worker %d: %w", id, err)
	}
	// Keep the master's ends; the deferred close drops the child's.
	closeLater = []*os.File{ctrlR, statW, outW, devnull}

	now := m.now()
	p := &proc{id: id, gen: m.gen, pid: pid, started: now, lastSeen: now, lifeEnd: m.lifetimeEnd(now),
		control: ipc.NewWriter(ctrlW), controlFile: ctrlW}
	m.workers[id] = p
	m.byPID[pid] = p
	wlog := m.base.With().Int("pid", pid).Int("worker", id).Int("generation", m.gen).Logger()
	go func() {
		logging.Capture(outR, m.sinkWriter(), wlog, outputQuietGap)
		outR.Close()
	}()
	go m.readStatus(id, statR)
	m.log.Debug().Int("worker", id).Int("worker_pid", pid).Int("generation", m.gen).Msg("worker spawned")
	return nil
}

// readStatus forwards a worker's messages to the loop until the pipe closes.
func (m *Master) readStatus(id int, f *os.File) {
	defer f.Close()
	r := ipc.NewReader(f)
	for {
		msg, err := r.Read()
		if err != nil {
			select {
			case m.events <- event{id: id, closed: true}:
			case <-m.done:
			}
			return
		}
		select {
		case m.events <- event{id: id, msg: msg}:
		case <-m.done:
			return
		}
	}
}

func (m *Master) workerMaxRequests() int {
	if m.cfg.MaxRequests <= 0 {
		return 0
	}
	n := m.cfg.MaxRequests
	if m.cfg.MaxRequestsJitter > 0 {
		n += rand.IntN(m.cfg.MaxRequestsJitter + 1)
	}
	return n
}

func (m *Master) sinkWriter() interface{ Write([]byte) (int, error) } {
	if m.opt.Sink != nil {
		return m.opt.Sink
	}
	return zerologWriter{m}
}

type zerologWriter struct{ m *Master }

func (z zerologWriter) Write(p []byte) (int, error) {
	z.m.log.Info().RawJSON("worker_line", trimNL(p)).Msg("")
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

// workerEnv is the master's environment minus what must not leak into
// workers, plus the boot document. GOTRACEBACK=all makes the SIGABRT dump
// show every goroutine unless the operator chose otherwise. GOMAXPROCS,
// unless the operator set it, splits the CPUs among the workers
// (workerProcs): N workers that each scheduled on every CPU would run N
// times as many Go schedulers as there are CPUs. A worker with WSGI app
// processes leaves half its share to them.
func workerEnv(b *ipc.Boot, workers int) ([]string, error) {
	doc, err := b.Encode()
	if err != nil {
		return nil, err
	}
	env := envWithout(ipc.EnvBoot, ipc.EnvUpgrade, "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
		"WATCHDOG_USEC", "WATCHDOG_PID")
	if os.Getenv("GOTRACEBACK") == "" {
		env = append(env, "GOTRACEBACK=all")
	}
	if os.Getenv("GOMAXPROCS") == "" {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(workerProcs(runtime.GOMAXPROCS(0), workers, b.Config != nil && b.Config.UsesWSGI())))
	}
	return append(env, ipc.EnvBoot+"="+doc), nil
}

// workerProcs is each worker's share of the CPUs the master may use
// (runtime.GOMAXPROCS, which follows the CPU affinity and a container's CPU
// limit): cpus / workers, rounded up, at least 1; half of that, at least 1,
// when the worker runs app processes, which need the rest. (On 2 CPUs with
// a WSGI app, GOMAXPROCS=1 served 15 % more requests than 2: fewer
// wake-ups between the worker's threads; docs/benchmarks.md.)
func workerProcs(cpus, workers int, appProcesses bool) int {
	if workers < 1 {
		workers = 1
	}
	share := max(1, (cpus+workers-1)/workers)
	if appProcesses {
		share = max(1, share/2)
	}
	return share
}
