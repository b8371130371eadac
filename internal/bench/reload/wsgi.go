package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/nginxtest"
)

// wsgiPython is the interpreter of the WSGI scenario: Debian's.
const wsgiPython = "/usr/bin/python3"

// wsgiSection is the scenario's app section. The app's file is rewritten
// between reloads within the same second and at the same size, which
// Python's bytecode cache (source mtime in seconds, and size) would take
// for unchanged: PYTHONDONTWRITEBYTECODE keeps the cache out of it.
const wsgiSection = `
[app]
type = "wsgi"
module = "versioned:application"
python = %q
processes = 2
threads = 4

[app.env]
PYTHONDONTWRITEBYTECODE = "1"
`

// versionedApp is the app's source: it answers "version N".
const versionedApp = `VERSION = %d


def application(environ, start_response):
    environ["wsgi.input"].read()
    body = b"version %%d\n" %% VERSION
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// probeEvery is how often the probe asks which version answers.
const probeEvery = 20 * time.Millisecond

// wsgiTarget is arbiter serving a WSGI app whose file it rewrites before
// each HUP; a probe records which version answers over time.
type wsgiTarget struct {
	*arbiterTarget
	appFile string
	t0      time.Time // when the probe started
	cancel  context.CancelFunc
	probed  chan struct{}

	mu       sync.Mutex
	version  int   // in the file now
	hups     []int // the version each HUP was sent for, in order
	samples  []sample
	probeErr int // probe requests that failed
}

// sample is one probe answer.
type sample struct {
	at      time.Duration // since t0
	version int
}

func startArbiterWSGI(e *env, dir string) (target, error) {
	addr, err := nginxtest.FreeAddr()
	if err != nil {
		return nil, err
	}
	w := &wsgiTarget{appFile: filepath.Join(dir, "versioned.py"), version: 1, probed: make(chan struct{})}
	if err := w.writeApp(); err != nil {
		return nil, err
	}
	a, err := startArbiter(e.arbiterBin, dir, e.workers, addr, "http", fmt.Sprintf(wsgiSection, wsgiPython))
	if err != nil {
		return nil, err
	}
	w.arbiterTarget = &arbiterTarget{arbiterProc: a, listen: addr}
	if v, err := askVersion(http.DefaultClient, "http://"+addr+"/"); err != nil || v != 1 {
		w.arbiterTarget.stop()
		return nil, fmt.Errorf("the WSGI app answers version %d, %v; want 1", v, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.t0 = cancel, time.Now()
	go w.probe(ctx, "http://"+addr+"/")
	return w, nil
}

// writeApp writes the current version's source, atomically: a process
// importing it meanwhile sees the old file or the new one.
func (w *wsgiTarget) writeApp() error {
	tmp := w.appFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf(versionedApp, w.version)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, w.appFile)
}

// signal rewrites the app with the next version before a HUP.
func (w *wsgiTarget) signal(kind string) (int, error) {
	if kind == evHUP {
		w.mu.Lock()
		w.version++
		w.hups = append(w.hups, w.version)
		err := w.writeApp()
		w.mu.Unlock()
		if err != nil {
			return 0, fmt.Errorf("rewrite the app: %w", err)
		}
	}
	return w.arbiterTarget.signal(kind)
}

// probe asks for the version on a new connection every probeEvery, so
// that any worker may answer.
func (w *wsgiTarget) probe(ctx context.Context, url string) {
	defer close(w.probed)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		v, err := askVersion(c, url)
		w.mu.Lock()
		if err != nil {
			w.probeErr++
		} else {
			w.samples = append(w.samples, sample{time.Since(w.t0), v})
		}
		w.mu.Unlock()
	}
}

func askVersion(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "version ")
	if resp.StatusCode != 200 || !ok {
		return 0, fmt.Errorf("%d %s", resp.StatusCode, benchkit.Clip(string(b), 100))
	}
	return strconv.Atoi(v)
}

// completions adds to arbiter's: a HUP whose version never answered after
// its generation was ready did not take effect.
func (w *wsgiTarget) completions(evs []event, t0 time.Time) {
	w.arbiterTarget.completions(evs, t0)
	w.cancel()
	<-w.probed
	w.checkVersions(evs, w.t0.Sub(t0))
}

// checkVersions sets the error or note of each HUP in evs from the probe's
// samples; a sample's time plus shift is its time on the load's clock.
func (w *wsgiTarget) checkVersions(evs []event, shift time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for i := range evs {
		ev := &evs[i]
		if ev.kind != evHUP {
			continue
		}
		want := w.hups[n]
		n++
		if ev.err != nil || ev.done == 0 {
			continue
		}
		first := time.Duration(-1)
		for _, s := range w.samples {
			if s.at+shift >= ev.done && s.version >= want {
				first = s.at + shift - ev.done
				break
			}
		}
		if first < 0 {
			ev.err = fmt.Errorf("version %d never answered after the new generation was ready", want)
		} else if first > time.Second {
			ev.note = fmt.Sprintf("version %d answered %v after the new generation was ready", want, first.Round(time.Millisecond))
		}
	}
}

// notes adds the probe's summary to arbiter's.
func (w *wsgiTarget) notes(t0 time.Time) []string {
	out := w.arbiterTarget.notes(t0)
	w.mu.Lock()
	defer w.mu.Unlock()
	last := 0
	if len(w.samples) > 0 {
		last = w.samples[len(w.samples)-1].version
	}
	out = append(out, fmt.Sprintf("WSGI probe: %d answers, %d failed; the app's file went from version 1 to %d, the last answer was version %d",
		len(w.samples), w.probeErr, w.version, last))
	return out
}

// stop ends the probe (if completions has not) and then arbiter.
func (w *wsgiTarget) stop() error {
	w.cancel()
	<-w.probed
	return w.arbiterTarget.stop()
}
