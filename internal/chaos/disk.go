package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/arbiter/master"
	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// diskSize is the tmpfs the logs go to: room for the access log of the
// whole scenario once it is freed (the load writes about 1 MB/s), small
// enough to fill in a moment.
const diskSize = 64 << 20

// Disk: under a keep-alive load, with log.file and log.access_log on a
// small tmpfs of their own, (1) the tmpfs fills up, then frees; (2) both
// log files are deleted; (3) the pidfile's directory is removed, then made
// again. Through it all no request may fail, and each event must show in
// the log: the lines lost to the full disk counted once it frees, the
// deleted files created again with a line that says so, the pidfile's loss
// and its rewriting. Mounting needs root; without it (1) is skipped.
func Disk(ctx context.Context, e *Env, s Scale) *Result {
	r := newResult("disk", "full disk for the logs, log files deleted, the pidfile's directory removed, under load")
	dir, err := e.scratch(r.Name)
	if err != nil {
		return r.fail(err)
	}
	disk := filepath.Join(dir, "disk")
	if err := os.MkdirAll(disk, 0o755); err != nil {
		return r.fail(err)
	}
	mounted := unix.Mount("tmpfs", disk, "tmpfs", 0, "size="+strconv.Itoa(diskSize)) == nil
	if mounted {
		defer unix.Unmount(disk, unix.MNT_DETACH)
	} else {
		r.note("no tmpfs (mount needs root): the full-disk part is not run")
	}
	mainLog, accessLog := filepath.Join(disk, "arbiter.log"), filepath.Join(disk, "access.log")
	f, err := startFleetLog(e, dir, `workers = 2

[[listen]]
address = "{{http}}"
`, fmt.Sprintf("file = %q\naccess_log = %q\n", mainLog, accessLog), "http")
	if err != nil {
		return r.fail(err)
	}
	defer f.finish(r)
	mpid, err := f.Master()
	if err != nil {
		return r.fail(err)
	}

	l := loadgen.Start(ctx, loadgen.Options{Addr: f.addrs["http"], Request: loadgen.Request("GET", "/chaos", "arbiter-chaos"),
		Conns: 2, Timeout: 5 * time.Second, Duration: 2 * time.Minute})
	defer l.Stop()
	if !waitFor(ctx, 10*time.Second, func() bool { return fileHas(accessLog, `"/chaos"`) }) {
		return r.fail(errors.New("no request in the access log"))
	}

	if mounted {
		okBefore := l.OK()
		mark := f.Log.Mark()
		filler, n, err := fill(disk)
		if err != nil {
			return r.fail(err)
		}
		full := time.Now()
		// The access log fails at once under load. Reloads make the
		// master log until its file has no room left either (a file's
		// last page may have some), which it tells on stderr.
		gen, reloads, reloaded := 0, 0, true
		var told bool
		for ; reloads < 8 && !told && reloaded; reloads++ {
			snap, err := f.snapshot()
			if err != nil {
				return r.fail(err)
			}
			gen = snap.Generation
			_ = syscall.Kill(mpid, syscall.SIGHUP)
			reloaded = waitFor(ctx, 20*time.Second, func() bool {
				snap, err := f.snapshot()
				return err == nil && snap.Generation > gen && generationReady(snap)
			})
			_, told = f.Log.Wait(mark, time.Second, benchkit.MsgHasPrefix("log file write failed"))
		}
		served := l.OK() - okBefore
		os.Remove(filler)
		freed := time.Now()
		// The main log owes a count only if a write to it failed: the
		// master may have written nothing while the disk was full.
		mainFailed := false
		for _, l := range f.Log.Snapshot()[mark:] {
			if strings.HasPrefix(l.Msg, "log file write failed") && strings.Contains(l.Raw, mainLog) {
				mainFailed = true
			}
		}
		mainCounted := !mainFailed || waitFor(ctx, 10*time.Second, func() bool { return fileHas(mainLog, `"log lines lost"`) })
		// A worker that lost access log lines says so in the access log
		// once it can write again, or, if it retired first (the reloads),
		// in the main log as it exits.
		accessCounted := waitFor(ctx, 10*time.Second, func() bool {
			return fileHas(accessLog, `"log lines lost"`) || fileHas(mainLog, "log file closed with lines lost")
		})
		r.figure("disk full", "%.1f MiB tmpfs filled with %d KiB; full for %v", float64(diskSize)/(1<<20), n>>10, freed.Sub(full).Round(100*time.Millisecond))
		r.figure("requests answered while it was full", "%d", served)
		r.figure("lines lost, as the logs say", "main log %s, access log %s; %d retired workers told theirs as they exited",
			lostCount(mainLog), lostCount(accessLog), strings.Count(tailOf(mainLog, 1<<30), "log file closed with lines lost"))
		r.check("reloads work on a full disk", reloaded, "%d reloads, the last from generation %d: %v", reloads, gen, reloaded)
		r.check("the full disk is told on stderr when it starts", told, "%v", told)
		r.check("once the disk frees, each log says how many lines it lost", mainCounted && accessCounted,
			"main log %v, access log %v", mainCounted, accessCounted)
	}

	// Both log files deleted under the master.
	os.Remove(mainLog)
	os.Remove(accessLog)
	deleted := time.Now()
	mainBack := waitFor(ctx, 10*time.Second, func() bool { return fileHas(mainLog, "log file was removed") })
	accessBack := waitFor(ctx, 10*time.Second, func() bool { return fileHas(accessLog, "log file was removed") && fileHas(accessLog, `"/chaos"`) })
	r.figure("log files back after their deletion", "%v", time.Since(deleted).Round(10*time.Millisecond))
	if !mainBack || !accessBack {
		r.note("main log ends: %s", tailOf(mainLog, 600))
		r.note("access log ends: %s", tailOf(accessLog, 600))
	}
	r.check("deleted log files are created again, saying so, and written on", mainBack && accessBack,
		"main log %v, access log %v", mainBack, accessBack)

	// The pidfile's directory removed, then made again.
	run := filepath.Dir(f.Pidfile)
	os.RemoveAll(run)
	lostSaid := waitFor(ctx, 10*time.Second, func() bool { return fileHas(mainLog, "pidfile was removed and cannot be written again") })
	os.MkdirAll(run, 0o755)
	rewritten := waitFor(ctx, 10*time.Second, func() bool {
		pid, err := f.Master()
		return err == nil && pid == mpid && fileHas(mainLog, "pidfile was removed; wrote it again")
	})
	r.check("a vanished pidfile directory is logged, and the pidfile written again once it is back", lostSaid && rewritten,
		"loss logged %v, rewritten %v", lostSaid, rewritten)

	sleep(ctx, 500*time.Millisecond)
	l.Stop()
	ok, fails, _ := l.Result(0)
	r.figure("requests", "%d, %d failed", ok+int64(len(fails)), len(fails))
	r.check("the server keeps serving: no request fails", len(fails) == 0 && procfs.Alive(mpid), "%d failed%s", len(fails), sampleFailures(fails))
	if len(fails) > 0 {
		r.note("the main log around the first failure: %s", linesNear(mainLog, l.Began().Add(fails[0].At), 300*time.Millisecond))
	}
	return r
}

// generationReady reports whether generation s.Generation has as many
// ready workers as wanted.
func generationReady(s *master.Snapshot) bool {
	n := 0
	for _, w := range s.Workers {
		if w.Generation == s.Generation && w.State == "ready" {
			n++
		}
	}
	return s.State == "running" && n == s.Desired
}

// fill writes zeros into a file in dir until the filesystem is full, and
// returns the file and how much went in.
func fill(dir string) (string, int64, error) {
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		return "", 0, fmt.Errorf("fill the disk: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := f.Write(buf)
		n += int64(m)
		if errors.Is(err, syscall.ENOSPC) {
			return path, n, nil
		}
		if err != nil {
			return path, n, fmt.Errorf("fill the disk: %w", err)
		}
	}
}

func fileHas(path, substr string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), substr)
}

// lostCount adds up the "lines" of the "log lines lost" lines in path
// (one per process that lost some and wrote again).
func lostCount(path string) string {
	b, _ := os.ReadFile(path)
	total, n := 0, 0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `"log lines lost"`) {
			continue
		}
		if _, rest, ok := strings.Cut(line, `"lines":`); ok {
			if end := strings.IndexAny(rest, ",}"); end > 0 {
				v, _ := strconv.Atoi(rest[:end])
				total += v
				n++
			}
		}
	}
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (in %d lines)", total, n)
}

// tailOf returns the last n bytes of the file at path.
func tailOf(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-n):])
}

// linesNear returns the lines of the JSON log at path stamped within d of t.
func linesNear(path string, t time.Time, d time.Duration) string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		_, rest, ok := strings.Cut(line, `"time":"`)
		if !ok {
			continue
		}
		stamp, _, _ := strings.Cut(rest, `"`)
		at, err := time.Parse(time.RFC3339Nano, stamp)
		if err == nil && at.After(t.Add(-d)) && at.Before(t.Add(d)) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
