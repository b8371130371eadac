package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

func newServer(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	h := newHandler()
	h.dir = dir
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestRoutes(t *testing.T) {
	dir := t.TempDir()
	srv := newServer(t, dir)
	body := strings.Repeat("0123456789", 10_000)
	sum := sha256.Sum256([]byte(body))
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		check                    func(t *testing.T, got []byte, h http.Header)
	}{
		{"sha256", "POST", "/x/sha256", body, 200, func(t *testing.T, got []byte, _ http.Header) {
			var c Checksum
			if err := json.Unmarshal(got, &c); err != nil {
				t.Fatal(err)
			}
			if c.SHA256 != hex.EncodeToString(sum[:]) || c.Length != int64(len(body)) || c.ContentLength != int64(len(body)) {
				t.Errorf("%+v", c)
			}
		}},
		{"stream", "GET", "/a/b/stream?n=3", "", 200, func(t *testing.T, got []byte, h http.Header) {
			if string(got) != "chunk 0\nchunk 1\nchunk 2\n" || h.Get("X-Accel-Buffering") != "no" {
				t.Errorf("%q %v", got, h)
			}
		}},
		{"stream with delay", "GET", "/stream?n=2&delay=5ms", "", 200, func(t *testing.T, got []byte, _ http.Header) {
			if string(got) != "chunk 0\nchunk 1\n" {
				t.Errorf("%q", got)
			}
		}},
		{"slow runs out", "GET", "/slow?tick=10ms&max=50ms&id=r1", "", 200, func(t *testing.T, got []byte, _ http.Header) {
			s := string(got)
			if !strings.HasPrefix(s, "started\n") || !strings.HasSuffix(s, "done\n") {
				t.Errorf("%q", got)
			}
			if _, err := os.Stat(filepath.Join(dir, "finished-r1")); err != nil {
				t.Error(err)
			}
		}},
		{"headers", "GET", "/headers", "", 200, func(t *testing.T, got []byte, _ http.Header) {
			var hr Headers
			if err := json.Unmarshal(got, &hr); err != nil {
				t.Fatal(err)
			}
			if hr.Headers.Get("X-One") != "1" || hr.Host == "" {
				t.Errorf("%+v", hr)
			}
		}},
		{"echo", "PUT", "/anything?q=1", "abc", 200, func(t *testing.T, got []byte, _ http.Header) {
			var rep echo.Reply
			if err := json.Unmarshal(got, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Method != "PUT" || rep.Query != "q=1" || rep.BodyLength != 3 {
				t.Errorf("%+v", rep)
			}
		}},
		{"bad count", "GET", "/stream?n=-1", "", 400, nil},
		{"bad delay", "GET", "/stream?delay=soon", "", 400, nil},
		{"bad tick", "GET", "/slow?tick=0s", "", 400, nil},
		{"gate outside the state dir", "GET", "/stream?gate=../x", "", 400, nil},
		{"id with a slash", "GET", "/slow?id=a/b", "", 400, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("X-One", "1")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, got, tt.status)
			}
			if tt.check != nil {
				tt.check(t, got, resp.Header)
			}
		})
	}
}

// Without a state dir, gates and ids are refused rather than ignored.
func TestNoStateDir(t *testing.T) {
	srv := newServer(t, "")
	for _, p := range []string{"/stream?gate=g", "/slow?id=x"} {
		resp, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

// The first chunk arrives while the handler waits for its gate.
func TestStreamGate(t *testing.T) {
	dir := t.TempDir()
	srv := newServer(t, dir)
	resp, err := srv.Client().Get(srv.URL + "/stream?n=2&gate=g1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "chunk 0\n" {
		t.Fatalf("%q %v", line, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "g1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(br); string(rest) != "chunk 1\n" {
		t.Fatalf("%q %v", rest, err)
	}
}

// A client that goes away cancels /slow, which records it.
func TestSlowRecordsCancellation(t *testing.T) {
	dir := t.TempDir()
	srv := newServer(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/slow?tick=1h&id=c1", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); line != "started\n" {
		t.Fatalf("%q %v", line, err)
	}
	cancel()
	resp.Body.Close()
	p := filepath.Join(dir, "cancelled-c1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(p)
		if err == nil {
			if !strings.Contains(string(b), "canceled") {
				t.Errorf("cause %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no cancellation recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "finished-c1")); err == nil {
		t.Error("also finished")
	}
}
