package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/nginxtest"
)

// slowloris holds n connections to one listener, each sending the start of
// a request and then a byte a second, never finishing it. A connection the
// server closes is opened again.
type slowloris struct {
	open    atomic.Int64 // connections that have sent their start
	dials   atomic.Int64
	cut     atomic.Int64 // closed by the server
	refused atomic.Int64 // dials that failed
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// slowStart is the start of a request for each protocol, and what trickles
// after it: the HTTP head never ends; the FastCGI PARAMS record, the SCGI
// netstring and the uwsgi vars block each declare more than ever comes.
func slowStart(proto string) (start []byte, trickle byte) {
	switch proto {
	case "fastcgi":
		b := fcgiRecord(1, 1, fcgiBegin(1), 0)
		return append(b, fcgiRaw(1, 4, 1, 60000, 0, fcgiPairs("REQUEST_METHOD", "GET"), 0)...), 'a'
	case "scgi":
		return []byte("60000:CONTENT_LENGTH\x000\x00SCGI\x001\x00HTTP_X_SLOW\x00"), 'a'
	case "uwsgi":
		return uwsgiPacket(0, 60000, 0, uwsgiVars("REQUEST_METHOD", "GET", "HTTP_X_SLOW")), 'a'
	}
	return []byte("GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: "), 'a'
}

func startSlowloris(addr, proto string, n int) *slowloris {
	ctx, cancel := context.WithCancel(context.Background())
	s := &slowloris{cancel: cancel}
	start, trickle := slowStart(proto)
	for i := range n {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			// Spread the first dials and the ticks over a second.
			if !sleep(ctx, time.Duration(i)*time.Second/time.Duration(n)) {
				return
			}
			for ctx.Err() == nil {
				s.hold(ctx, addr, start, trickle)
			}
		}()
	}
	return s
}

// hold opens one connection and trickles on it until the server closes it
// or ctx ends.
func (s *slowloris) hold(ctx context.Context, addr string, start []byte, trickle byte) {
	s.dials.Add(1)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		s.refused.Add(1)
		sleep(ctx, time.Second)
		return
	}
	defer c.Close()
	if _, err := c.Write(start); err != nil {
		s.cut.Add(1)
		return
	}
	s.open.Add(1)
	defer s.open.Add(-1)
	closed := make(chan struct{})
	go func() {
		// A read returns only when the server closes (or answers).
		var b [512]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				close(closed)
				return
			}
		}
	}()
	tick := time.NewTicker(time.Second + time.Duration(rand.IntN(100))*time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-closed:
			s.cut.Add(1)
			return
		case <-tick.C:
			if _, err := c.Write([]byte{trickle}); err != nil {
				s.cut.Add(1)
				return
			}
		}
	}
}

func (s *slowloris) stop() {
	s.cancel()
	s.wg.Wait()
}

// slowConfig: two workers, a listener per protocol.
const slowConfig = "workers = 2\n" + fourListeners

// slowTarget is the throughput a slowloris run must keep: 80 % of the
// run without it.
const slowTarget = 0.8

// Slowloris: for each protocol, wrk measures normal traffic on that
// listener (directly over HTTP; through nginx for FastCGI, SCGI and
// uwsgi) without and then with s.Slowloris slow connections on the same
// listener. The guarantees: the slow connections are accepted and held
// without breaking normal requests (wrk counts no error) or any worker;
// the target: throughput ≥ 80 % of the run without them.
func Slowloris(ctx context.Context, e *Env, s Scale) *Result {
	r := newResult("slowloris", fmt.Sprintf("%d slowloris connections on each protocol while wrk measures normal traffic (%d × %v runs with and without)", s.Slowloris, max(1, s.WrkRounds), s.WrkFor))
	if e.Wrk == "" {
		return r.fail(errors.New("wrk is not installed (apt-get install -y wrk)"))
	}
	dir, err := e.scratch(r.Name)
	if err != nil {
		return r.fail(err)
	}
	f, err := startFleet(e, dir, slowConfig, "http", "fastcgi", "scgi", "uwsgi")
	if err != nil {
		return r.fail(err)
	}
	defer f.finish(r)
	urls := map[string]string{"http": "http://" + f.addrs["http"] + "/wrk"}
	if _, err := nginxtest.Binary(); err != nil {
		r.note("nginx missing: FastCGI, SCGI and uwsgi not measured (%v)", err)
		if os.Getenv("CI") != "" {
			return r.fail(err)
		}
	} else {
		ngDir := filepath.Join(dir, "nginx")
		if err := os.Mkdir(ngDir, 0o755); err != nil {
			return r.fail(err)
		}
		ng, err := nginxtest.Launch(ngDir, nginxtest.Config{
			HTTP: fmt.Sprintf("upstream fcgi {\n    server %s;\n    keepalive 32;\n}\n", f.addrs["fastcgi"]),
			Server: "location /fastcgi/ {\n    include /etc/nginx/fastcgi_params;\n    fastcgi_keep_conn on;\n    fastcgi_pass fcgi;\n}\n" +
				"location /scgi/ {\n    include /etc/nginx/scgi_params;\n    scgi_pass " + f.addrs["scgi"] + ";\n}\n" +
				"location /uwsgi/ {\n    include /etc/nginx/uwsgi_params;\n    uwsgi_pass " + f.addrs["uwsgi"] + ";\n}\n",
			ErrorLogLevel: "error", MasterProcess: true, WorkerProcesses: 1,
		})
		if err != nil {
			return r.fail(err)
		}
		defer ng.Stop(10 * time.Second)
		for _, p := range []string{"fastcgi", "scgi", "uwsgi"} {
			urls[p] = ng.URL("/" + p + "/wrk")
		}
	}
	before, err := f.snapshot()
	if err != nil {
		return r.fail(err)
	}

	var wrkErrors int64
	heldAll := true
	for _, p := range []string{"http", "fastcgi", "scgi", "uwsgi"} {
		url, ok := urls[p]
		if !ok || ctx.Err() != nil {
			continue
		}
		// Runs without and with the slow connections alternate, s.WrkRounds
		// of each, and the means are compared: the machine's own noise
		// then falls on both sides.
		var bases, unders []benchkit.Result
		var openAtStart, openAtEnd int64
		var cut, refusedDials int64
		held := true
		for range max(1, s.WrkRounds) {
			base, _, err := benchkit.RunWrk(ctx, e.Wrk, url, 2, 32, s.WrkFor)
			if err != nil {
				return r.fail(err)
			}
			sl := startSlowloris(f.addrs[p], p, s.Slowloris)
			held = waitFor(ctx, 30*time.Second, func() bool { return sl.open.Load() >= int64(s.Slowloris) }) && held
			if o := sl.open.Load(); len(unders) == 0 || o < openAtStart {
				openAtStart = o
			}
			under, _, err := benchkit.RunWrk(ctx, e.Wrk, url, 2, 32, s.WrkFor)
			openAtEnd = sl.open.Load()
			sl.stop()
			cut += sl.cut.Load()
			refusedDials += sl.refused.Load()
			if err != nil {
				return r.fail(err)
			}
			bases, unders = append(bases, base), append(unders, under)
		}
		base, under := meanResult(bases), meanResult(unders)
		ratio := under.ReqPerSec / base.ReqPerSec
		wrkErrors += base.Errors + under.Errors
		heldAll = heldAll && held
		r.figure(p+": without slowloris", "%.0f req/s, p99 %s (mean of %d runs)", base.ReqPerSec, ms(base.P99), len(bases))
		r.figure(p+": with slowloris", "%.0f req/s (%.0f %%), p99 %s (%.2f×)", under.ReqPerSec, 100*ratio, ms(under.P99), float64(under.P99)/float64(max(base.P99, 1)))
		r.figure(p+": slow connections", "%d open when wrk began (fewest), %d when it ended; %d cut by the server, %d dials refused",
			openAtStart, openAtEnd, cut, refusedDials)
		r.target(fmt.Sprintf("%s: throughput with slowloris ≥ %.0f %% of without", p, 100*slowTarget), ratio >= slowTarget, "%.0f %%", 100*ratio)
	}
	after, err := f.snapshot()
	if err != nil {
		return r.fail(err)
	}
	r.check(fmt.Sprintf("every protocol accepts and holds %d slow connections", s.Slowloris), heldAll, "%v", heldAll)
	r.check("normal requests do not fail meanwhile (wrk: no socket error, no non-2xx)", wrkErrors == 0, "%d errors", wrkErrors)
	r.check("no worker dies", after.Spawned == before.Spawned, "%d → %d workers spawned", before.Spawned, after.Spawned)
	return r
}

// meanResult averages the throughput, p99 and errors of wrk runs (errors
// add up).
func meanResult(rs []benchkit.Result) benchkit.Result {
	var m benchkit.Result
	for _, r := range rs {
		m.ReqPerSec += r.ReqPerSec / float64(len(rs))
		m.P99 += r.P99 / time.Duration(len(rs))
		m.Errors += r.Errors
	}
	return m
}
