package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Load the benchmark puts on every server.
const (
	wrkThreads     = 2
	wrkConnections = 64
)

// wrkScript makes wrk print its summary as one JSON line, which is easier
// to read reliably than its human-readable report. Latencies are in
// microseconds.
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '` + wrkPrefix + `{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%.0f,"p99_us":%.0f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`

const wrkPrefix = "BENCHCORE "

// wrkResult is one wrk run's summary.
type wrkResult struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	Connect    int64   `json:"connect"`
	Read       int64   `json:"read"`
	Write      int64   `json:"write"`
	Status     int64   `json:"status"` // responses that were not 2xx or 3xx
	Timeout    int64   `json:"timeout"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
}

func (r wrkResult) rps() float64 {
	if r.DurationUS <= 0 {
		return 0
	}
	return float64(r.Requests) / (float64(r.DurationUS) / 1e6)
}

// errors counts every failed request: socket errors and non-2xx/3xx
// responses.
func (r wrkResult) errors() int64 {
	return r.Connect + r.Read + r.Write + r.Status + r.Timeout
}

func (r wrkResult) p50() time.Duration { return time.Duration(r.P50US * float64(time.Microsecond)) }
func (r wrkResult) p99() time.Duration { return time.Duration(r.P99US * float64(time.Microsecond)) }

// parseWrk finds the summary line the script prints in wrk's output.
func parseWrk(out []byte) (wrkResult, error) {
	var line []byte
	for l := range bytes.Lines(out) {
		if rest, ok := bytes.CutPrefix(l, []byte(wrkPrefix)); ok {
			line = rest
		}
	}
	if line == nil {
		return wrkResult{}, errors.New("wrk printed no summary line")
	}
	var r wrkResult
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return wrkResult{}, fmt.Errorf("wrk summary %q: %w", bytes.TrimSpace(line), err)
	}
	if r.Requests < 0 || r.DurationUS < 0 || r.errors() < 0 || r.P50US < 0 || r.P99US < 0 {
		return wrkResult{}, fmt.Errorf("wrk summary %q: negative count", bytes.TrimSpace(line))
	}
	return r, nil
}

// wrk runs the load generator.
type wrk struct {
	bin    string
	script string
	ps     *procSet
}

// newWrk finds wrk on PATH and writes its script into dir.
func newWrk(ps *procSet, dir string) (*wrk, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "summary.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return nil, fmt.Errorf("write wrk script: %w", err)
	}
	return &wrk{bin: bin, script: script, ps: ps}, nil
}

// run puts load on url for d, over keep-alive connections, and
// returns wrk's summary. wrk is killed if it has not finished 15 s after d.
func (w *wrk) run(ctx context.Context, url string, d time.Duration) (wrkResult, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+15*time.Second)
	defer cancel()
	cmd := exec.Command(w.bin,
		"-t"+strconv.Itoa(wrkThreads), "-c"+strconv.Itoa(wrkConnections),
		"-d"+strconv.Itoa(secs)+"s", "--timeout", "5s", "-s", w.script,
		url)
	out, err := w.ps.output(ctx, "wrk", cmd)
	if err != nil {
		return wrkResult{}, err
	}
	return parseWrk(out)
}
