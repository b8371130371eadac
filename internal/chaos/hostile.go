package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter/master"
	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// catScript is the CGI script hostile bodies reach: it copies its stdin.
const catScript = `#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
exec cat
`

// fourListeners is a listener for each protocol, at {{http}}, {{fastcgi}},
// {{scgi}} and {{uwsgi}}.
const fourListeners = `
[[listen]]
address = "{{http}}"
protocol = "http"

[[listen]]
address = "{{fastcgi}}"
protocol = "fastcgi"

[[listen]]
address = "{{scgi}}"
protocol = "scgi"

[[listen]]
address = "{{uwsgi}}"
protocol = "uwsgi"
`

// hostileConfig is one worker with a listener per protocol: a crash shows
// as a new worker, a leak in its counts.
const hostileConfig = `workers = 1
timeout = "4s"
keepalive = "1s"
read_header_timeout = "1s"
read_timeout = "1s"

` + fourListeners + "\n" + echoWithCGI

// answerWait bounds how long a case waits for the server to close: its
// read timeouts (1 s) and keepalive (1 s) with a wide margin.
const answerWait = 10 * time.Second

// outcome is what one case's connection got.
type outcome struct {
	out    []byte
	closed bool // EOF or a reset within answerWait
	reset  bool
}

// sendCase writes c.send on a new connection and reads until the server
// closes. The client never half-closes: net/http (and arbiter's other
// servers) take the end of the stream for a client gone, which is a case
// of its own; a hostile client stalls instead, and the server's timeouts
// must end the connection.
func sendCase(addr string, c hostileCase) (outcome, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return outcome{}, fmt.Errorf("%s %q: dial: %w", c.proto, c.name, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(answerWait))
	var o outcome
	// A server may answer and close before reading everything: a failed
	// write is then no error of the case.
	_, _ = conn.Write(c.send)
	var buf bytes.Buffer
	_, err = io.Copy(&buf, conn)
	o.out = buf.Bytes()
	switch {
	case err == nil:
		o.closed = true
	case errors.Is(err, syscall.ECONNRESET):
		o.closed, o.reset = true, true
	}
	return o, nil
}

// judge says whether o is a clean answer to c: a close, or an error
// response and a close; never a smuggled request served, never a hang.
func judge(c hostileCase, o outcome) (bool, string) {
	if !o.closed {
		return false, fmt.Sprintf("not closed within %v (%d bytes answered)", answerWait, len(o.out))
	}
	if bytes.Contains(o.out, []byte("/smuggled")) {
		return false, "the smuggled request was served"
	}
	// st are the statuses of whole responses; cut says a response was
	// begun and aborted, which is how a server reports an error it found
	// after the status went out.
	var st, proto []int
	var mgmt []byte
	framed, cut := true, false
	switch c.proto {
	case "http":
		st, cut = httpStatuses(o.out)
	case "fastcgi":
		a := parseFCGI(o.out)
		st, proto, mgmt, framed = a.statuses, a.protoStatus, a.management, a.framed
		if len(st) > 0 && (len(a.appStatus) == 0 || a.appStatus[0] != 0) {
			st, cut = nil, true // no END_REQUEST, or appStatus 1: aborted
		}
	default: // SCGI and uwsgi end a response with the connection, and reset an aborted one
		st = statuses(o.out)
		if o.reset && len(st) > 0 {
			st, cut = nil, true
		}
	}
	var ok2xx, errs []int
	for _, s := range st {
		if s >= 200 && s < 300 {
			ok2xx = append(ok2xx, s)
		} else if s >= 400 {
			errs = append(errs, s)
		}
	}
	closing := "closed"
	if o.reset {
		closing = "reset"
	}
	switch {
	case c.control:
		return len(ok2xx) == 1 && len(errs) == 0, fmt.Sprintf("statuses %v, %s", st, closing)
	case len(ok2xx) > 0 && c.lenient == "":
		return false, fmt.Sprintf("accepted: statuses %v", st)
	case len(ok2xx) > 0:
		return true, fmt.Sprintf("statuses %v (%s), %s", st, c.lenient, closing)
	case len(errs) > 0:
		return true, fmt.Sprintf("error %v, %s", errs, closing)
	case cut:
		return true, "response begun, then aborted: " + closing
	case len(proto) > 0 && proto[0] != 0:
		return true, fmt.Sprintf("END_REQUEST protocol status %d, %s", proto[0], closing)
	case bytes.Contains(mgmt, []byte{11}):
		return true, "FCGI_UNKNOWN_TYPE, " + closing
	case len(o.out) == 0:
		return true, closing
	case !framed:
		return false, fmt.Sprintf("%d bytes that are not FastCGI records", len(o.out))
	}
	return false, fmt.Sprintf("an answer without a status: %q", benchkit.Clip(string(o.out), 120))
}

// workerCounts are what a leak would grow in the one worker.
type workerCounts struct {
	pid, goroutines, fds, children int
	spawned                        int
}

func (c workerCounts) String() string {
	return fmt.Sprintf("%d goroutines, %d fds, %d children", c.goroutines, c.fds, c.children)
}

func countWorker(s *master.Snapshot) (workerCounts, error) {
	if len(s.Workers) != 1 {
		return workerCounts{}, fmt.Errorf("want one worker, have %s", describeWorkers(s))
	}
	w := s.Workers[0]
	return workerCounts{pid: w.PID, goroutines: w.Goroutines, fds: procfs.FDs(w.PID),
		children: len(procfs.Children(w.PID)), spawned: s.Spawned}, nil
}

// Hostile sends every case of hostileCases to its listener, rounds times
// (after a first round that lets the worker start whatever it starts once),
// and checks each answer and, after the last round, that the one worker
// is the same process with no more goroutines, descriptors or children.
func Hostile(ctx context.Context, e *Env, s Scale) *Result {
	cases := hostileCases()
	r := newResult("hostile", fmt.Sprintf("hostile input: %d cases over HTTP, FastCGI, SCGI and uwsgi, %d rounds", len(cases), s.HostileRounds))
	dir, err := e.scratch(r.Name)
	if err != nil {
		return r.fail(err)
	}
	if err := writeScript(dir, "cat.sh", catScript); err != nil {
		return r.fail(err)
	}
	f, err := startFleet(e, dir, hostileConfig, "http", "fastcgi", "scgi", "uwsgi")
	if err != nil {
		return r.fail(err)
	}
	defer f.finish(r)

	verdicts := make([]string, len(cases))
	bad := map[int]string{}
	// A round sends every case at once: most wait for a server timeout.
	round := func() error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		outs := make([]outcome, len(cases))
		errs := make([]error, len(cases))
		var wg sync.WaitGroup
		for i, c := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], errs[i] = sendCase(f.addrs[c.proto], c)
			}()
		}
		wg.Wait()
		for i, c := range cases {
			if errs[i] != nil {
				return errs[i]
			}
			ok, what := judge(c, outs[i])
			verdicts[i] = what
			if !ok {
				bad[i] = what
			}
		}
		return nil
	}
	if err := round(); err != nil {
		return r.fail(err)
	}
	snap, err := f.snapshot()
	if err != nil {
		return r.fail(err)
	}
	before, err := countWorker(snap)
	if err != nil {
		return r.fail(err)
	}
	// The goroutine count comes with the heartbeat (every second): wait
	// for one that follows the round.
	before, err = f.settledCounts(before, 3*time.Second)
	if err != nil {
		return r.fail(err)
	}
	for range s.HostileRounds {
		if err := round(); err != nil {
			return r.fail(err)
		}
	}
	after, err := f.settledCounts(before, 15*time.Second)
	if err != nil {
		return r.fail(err)
	}

	protos := map[string]int{}
	for _, c := range cases {
		protos[c.proto]++
	}
	r.figure("cases", "%d (HTTP %d, FastCGI %d, SCGI %d, uwsgi %d), each sent %d times",
		len(cases), protos["http"], protos["fastcgi"], protos["scgi"], protos["uwsgi"], s.HostileRounds+1)
	r.figure("worker before the last rounds", "%s", before)
	r.figure("worker after them", "%s", after)
	var lines []string
	for i, c := range cases {
		lines = append(lines, fmt.Sprintf("%s, %s: %s", c.proto, c.name, verdicts[i]))
	}
	r.Details = lines
	var broken []string
	for i, what := range bad {
		broken = append(broken, fmt.Sprintf("%s %q: %s", cases[i].proto, cases[i].name, what))
	}
	r.check("a clean error or close for each case", len(bad) == 0, "%d of %d not%s", len(bad), len(cases), listed(broken))
	r.check("no crash: the same worker, none spawned", after.pid == before.pid && after.spawned == before.spawned,
		"worker %d → %d, %d → %d spawned", before.pid, after.pid, before.spawned, after.spawned)
	r.check("no leaked goroutine, fd or child", after.goroutines <= before.goroutines && after.fds <= before.fds && after.children <= before.children,
		"%s → %s", before, after)
	if z := procfs.Zombies(after.pid); len(z) > 0 {
		r.check("the worker leaves no zombie", false, "zombies %v", z)
	}
	return r
}

// settledCounts waits up to timeout for a heartbeat newer than now and
// for the worker's counts to come down to base (any counts when base is
// the first), and returns the last counts seen.
func (f *fleet) settledCounts(base workerCounts, timeout time.Duration) (workerCounts, error) {
	deadline := time.Now().Add(timeout)
	since := time.Now()
	var last workerCounts
	for {
		s, err := f.snapshot()
		if err != nil {
			return last, err
		}
		if last, err = countWorker(s); err != nil {
			return last, err
		}
		fresh := time.Since(since) > 1500*time.Millisecond // a heartbeat has come since
		if fresh && last.goroutines <= base.goroutines && last.fds <= base.fds && last.children <= base.children {
			return last, nil
		}
		if time.Now().After(deadline) {
			return last, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func listed(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return ": " + strings.Join(s, "; ")
}
