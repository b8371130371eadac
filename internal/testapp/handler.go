package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

// StateDirEnv names the directory where /stream gates and /slow outcomes live.
const StateDirEnv = "ARBITER_TESTAPP_DIR"

// gateTimeout bounds how long /stream waits for its gate file.
const gateTimeout = 15 * time.Second

// Checksum is the JSON /sha256 answers with.
type Checksum struct {
	SHA256           string   `json:"sha256"`
	Length           int64    `json:"length"`
	ContentLength    int64    `json:"content_length"` // r.ContentLength: -1 for a streamed body
	TransferEncoding []string `json:"transfer_encoding"`
	Protocol         string   `json:"protocol"`
}

// Headers is the JSON /headers answers with.
type Headers struct {
	Host    string      `json:"host"`
	Headers http.Header `json:"headers"`
}

type handler struct {
	dir  string // state dir, "" when unset
	echo http.Handler
}

func newHandler() *handler {
	return &handler{dir: os.Getenv(StateDirEnv), echo: echo.New()}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch path.Base(r.URL.Path) {
	case "sha256":
		h.sha256(w, r)
	case "stream":
		h.stream(w, r)
	case "slow":
		h.slow(w, r)
	case "headers":
		writeJSON(w, Headers{Host: r.Host, Headers: r.Header})
	case "hang":
		hang(r.Context())
	case "stuck":
		stuck()
	default:
		h.echo.ServeHTTP(w, r)
	}
}

func (h *handler) sha256(w http.ResponseWriter, r *http.Request) {
	sum := sha256.New()
	n, err := io.Copy(sum, r.Body)
	if err != nil {
		http.Error(w, fmt.Sprintf("reading body after %d bytes: %v", n, err), http.StatusBadRequest)
		return
	}
	writeJSON(w, Checksum{
		SHA256: hex.EncodeToString(sum.Sum(nil)), Length: n, ContentLength: r.ContentLength,
		TransferEncoding: r.TransferEncoding, Protocol: arbiter.Protocol(r),
	})
}

func (h *handler) stream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := intParam(q.Get("n"), 5)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	delay, err := durationParam(q.Get("delay"), 0)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	gate := ""
	if name := q.Get("gate"); name != "" {
		if gate, err = h.statePath(name); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	flusher, _ := w.(http.Flusher)
	for i := range n {
		if i > 0 && delay > 0 {
			if !sleep(r.Context(), delay) {
				return
			}
		}
		if _, err := fmt.Fprintf(w, "chunk %d\n", i); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		if i == 0 && gate != "" && !waitFile(r.Context(), gate, gateTimeout) {
			fmt.Fprintf(w, "gate timeout\n")
			return
		}
	}
}

func (h *handler) slow(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tick, err := durationParam(q.Get("tick"), 100*time.Millisecond)
	if err == nil && tick <= 0 {
		err = errors.New("tick must be positive")
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	max, err := durationParam(q.Get("max"), 30*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	record := func(string, string) {}
	if id := q.Get("id"); id != "" {
		if _, err := h.statePath("finished-" + id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		record = func(outcome, detail string) {
			p, _ := h.statePath(outcome + "-" + id)
			// Written whole, then renamed: a reader never sees it empty.
			if os.WriteFile(p+".tmp", []byte(detail+"\n"), 0o644) == nil {
				_ = os.Rename(p+".tmp", p)
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	_, _ = io.WriteString(w, "started\n")
	flush()
	ctx := r.Context()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			record("cancelled", context.Cause(ctx).Error())
			return
		case <-deadline.C:
			record("finished", "ran for "+max.String())
			_, _ = io.WriteString(w, "done\n")
			return
		case <-ticker.C:
			// A failed write is not the point here: what must end the
			// handler is the context.
			_, _ = io.WriteString(w, ".\n")
			flush()
		}
	}
}

// statePath returns name inside the state dir; name must be a plain file name.
func (h *handler) statePath(name string) (string, error) {
	if h.dir == "" {
		return "", fmt.Errorf("%s is not set", StateDirEnv)
	}
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("bad state file name %q", name)
	}
	return filepath.Join(h.dir, name), nil
}

// waitFile waits until p exists, ctx ends or timeout passes.
func waitFile(ctx context.Context, p string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(p); err == nil {
			return true
		}
		if time.Now().After(deadline) || !sleep(ctx, 10*time.Millisecond) {
			return false
		}
	}
}

// sleep waits for d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1_000_000 {
		return 0, fmt.Errorf("bad count %q", s)
	}
	return n, nil
}

func durationParam(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// hang writes nothing and returns when ctx ends: a handler request_timeout
// can stop.
func hang(ctx context.Context) { <-ctx.Done() }

// stuck never returns, whatever its context says: a handler request_timeout
// cannot stop, which gets its worker replaced.
func stuck() { select {} }
