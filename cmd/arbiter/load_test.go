package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

// load runs keep-alive clients against addr until stop is called. Requests
// are POSTs whose body cannot be replayed, so net/http's client never
// retries one behind our back: every reset or early close is counted.
//
// One failure is not the server's: a request sent on a keep-alive
// connection that had sat idle in the client for staleIdle or more, which
// the server may close at that very moment (a drain closes every
// connection still idle min(keepalive, 1s) after it began, and keepalive
// closes idle ones; RFC 9112 §9.3.1 leaves such a request to the client to
// retry, and a client must not retry a POST). Under this continuous load a
// connection sits idle that long only when its client goroutine stalls,
// which only a machine under heavy load does; such failures are counted as
// raced and logged, every other failure fails the test.
type load struct {
	ok, failed atomic.Int64
	raced      atomic.Int64
	mu         sync.Mutex
	errs       []string
	pids       map[int]bool
	gens       map[int]bool
	versions   map[string]int // X-Hello-Version of the replies (library-mode hello)
	stopCh     chan struct{}
	wg         sync.WaitGroup
}

func startLoad(t *testing.T, addr string, clients int) *load {
	l := &load{stopCh: make(chan struct{}), pids: map[int]bool{}, gens: map[int]bool{}, versions: map[string]int{}}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for {
				select {
				case <-l.stopCh:
					return
				default:
				}
				l.one(c, addr)
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) one(c *http.Client, addr string) {
	body := "ping"
	req, _ := http.NewRequest("POST", "http://"+addr+"/load", io.NopCloser(strings.NewReader(body)))
	req.ContentLength = int64(len(body))
	var conn httptrace.GotConnInfo
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { conn = i },
	}))
	resp, err := c.Do(req)
	if err != nil {
		if conn.Reused && conn.IdleTime >= staleIdle {
			l.raced.Add(1)
			l.note(fmt.Sprintf("raced (the connection sat idle %v): %v", conn.IdleTime, err))
			return
		}
		l.fail(err.Error())
		return
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		l.fail(fmt.Sprintf("status %d, read error %v", resp.StatusCode, err))
		return
	}
	if v := resp.Header.Get("X-Hello-Version"); v != "" {
		l.ok.Add(1)
		l.mu.Lock()
		l.versions[v]++
		l.mu.Unlock()
		return
	}
	var r echo.Reply
	if err := json.Unmarshal(data, &r); err != nil || r.BodyLength != int64(len(body)) {
		l.fail(fmt.Sprintf("bad reply %q", data))
		return
	}
	l.ok.Add(1)
	l.mu.Lock()
	l.pids[r.PID] = true
	l.gens[r.Generation] = true
	l.mu.Unlock()
}

// staleIdle is how long a connection must have sat idle in the client for
// its failure to count as the keep-alive race (see load).
const staleIdle = 250 * time.Millisecond

func (l *load) fail(msg string) {
	l.failed.Add(1)
	l.note(msg)
}

func (l *load) note(msg string) {
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, msg)
	}
	l.mu.Unlock()
}

func (l *load) stop() {
	select {
	case <-l.stopCh:
	default:
		close(l.stopCh)
	}
	l.wg.Wait()
}

// check stops the load and fails the test on any failed request.
func (l *load) check(t *testing.T) {
	t.Helper()
	l.stop()
	t.Logf("load: %d ok, %d failed, %d raced on a connection idle over %v, %d worker pids, generations %v, versions %v",
		l.ok.Load(), l.failed.Load(), l.raced.Load(), staleIdle, len(l.pids), l.gens, l.versions)
	if l.failed.Load() > 0 {
		t.Fatalf("%d failed requests, first errors: %v", l.failed.Load(), l.errs)
	}
	if l.raced.Load() > 0 {
		t.Logf("raced: %v", l.errs)
	}
	if l.ok.Load() == 0 {
		t.Fatal("no request succeeded")
	}
}

func (l *load) waitOK(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.ok.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests succeeded", l.ok.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
