package wsgi

import (
	"os"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/logging"
)

// capture logs the process's output.
// It starts once the pid is known (the zygote's SPAWNED, READY, or the
// exit of a process that never said either), so that lines carry it; the
// pipe holds what comes before.
func (p *pool) capture(pr *proc) {
	pr.captureOnce.Do(func() {
		p.mu.Lock()
		pid := pr.pid
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.readOutput(pr.fds.stderr, p.log.With().Int("pid", pid).Logger())
		}()
	})
}

// readOutput logs what a process writes to stdout and stderr (print,
// wsgi.errors, the logging module, a crash's traceback), a burst of lines
// as one event, until end of file.
func (p *pool) readOutput(f *os.File, log zerolog.Logger) {
	p.track(f)
	defer p.untrack(f)
	logging.Capture(f, os.Stderr, log, 100*time.Millisecond)
}

// track and untrack keep the pipes being read, for close to cut off.
func (p *pool) track(f *os.File) {
	p.mu.Lock()
	p.outputs[f] = true
	p.mu.Unlock()
}

func (p *pool) untrack(f *os.File) {
	p.mu.Lock()
	delete(p.outputs, f)
	p.mu.Unlock()
	f.Close()
}

// readDumps reads the dump pipe: faulthandler's traceback of every thread,
// ended by a 0x0c byte. A dump the pool asked for goes to the waiting kill;
// another (an operator's kill -USR2) is logged.
func (p *pool) readDumps(pr *proc) {
	defer p.wg.Done()
	p.track(pr.fds.dump)
	defer p.untrack(pr.fds.dump)
	var acc []byte
	buf := make([]byte, 16<<10)
	for {
		n, err := pr.fds.dump.Read(buf)
		for _, c := range buf[:n] {
			if c != byte(syscall.SIGUSR2) {
				if len(acc) < 4<<20 {
					acc = append(acc, c)
				}
				continue
			}
			tb := string(acc)
			acc = acc[:0]
			p.mu.Lock()
			ch := pr.dumpTo
			pr.dumpTo = nil
			pid := pr.pid
			p.mu.Unlock()
			if ch != nil {
				ch <- tb
			} else {
				p.log.Warn().Int("pid", pid).Str("traceback", tb).Msg("traceback of every thread (SIGUSR2)")
			}
		}
		if err != nil {
			return
		}
	}
}
