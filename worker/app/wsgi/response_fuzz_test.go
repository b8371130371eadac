package wsgi

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// FuzzRespond plays an app process: the bytes are what it sends on its
// socket for one request (with nfds%3 copies of a regular file attached,
// for SENDFILE), then it closes the socket. respond must not panic but
// with http.ErrAbortHandler (a response cut after its headers); what it
// sends must have headers arbiter may send, a status from 200 to 999, and
// (but for HEAD) no more body than its Content-Length; the slot must be
// released exactly once; and every descriptor it got (the files, a spill
// file) must be closed once the pump is done. flags%2 == 1 makes it HEAD.
func FuzzRespond(f *testing.F) {
	dir := f.TempDir()
	file, err := os.CreateTemp(dir, "sendfile-")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := file.WriteString("the file's contents\n"); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { file.Close() })
	f.Fuzz(func(t *testing.T, data []byte, nfds, flags uint) {
		k := int(nfds % 3)
		if len(data) == 0 {
			k = 0
		}
		before := procfs.OpenFDs()
		if before < 0 {
			t.Fatal("cannot read /proc/self/fd")
		}
		h, s := fuzzHandler()
		h.cfg.TempDir = dir
		c, peer, err := socketPair()
		if err != nil {
			t.Fatal(err)
		}
		s.c, s.rd = c, newFrameReader(c)
		sent := make(chan struct{})
		go func() { defer close(sent); sendAll(peer, data, k, int(file.Fd())) }()

		method := http.MethodGet
		if flags%2 == 1 {
			method = http.MethodHead
		}
		r := httptest.NewRequest(method, "/fuzz", nil)
		w := httptest.NewRecorder()
		aborted := false
		func() {
			defer func() {
				if v := recover(); v != nil {
					if v != http.ErrAbortHandler {
						panic(v)
					}
					aborted = true
				}
			}()
			h.respond(w, r, s)
		}()

		// The pump may still be reading: the slot is released when it is done.
		p, pr := h.pool, s.p
		deadline := time.Now().Add(30 * time.Second)
		for {
			p.mu.Lock()
			busy, requests := pr.busy, pr.requests
			p.mu.Unlock()
			if busy < 0 || requests > 1 {
				t.Fatalf("slot released twice: busy %d, requests %d", busy, requests)
			}
			if busy == 0 && requests == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the slot was never released")
			}
			time.Sleep(100 * time.Microsecond)
		}
		c.Close()
		<-sent
		for procfs.OpenFDs() > before {
			if time.Now().After(deadline) {
				t.Fatalf("%d descriptors open, %d before", procfs.OpenFDs(), before)
			}
			time.Sleep(100 * time.Microsecond)
		}

		res := w.Result()
		checkSentHeaders(t, res.Header)
		if res.StatusCode < 200 || res.StatusCode > 999 {
			t.Fatalf("status %d", res.StatusCode)
		}
		// (A HEAD response's body is dropped by net/http, not by respond.)
		if cl := res.Header.Get("Content-Length"); cl != "" && !aborted && method != http.MethodHead {
			n, _ := strconv.Atoi(cl)
			if w.Body.Len() > n {
				t.Fatalf("%d body bytes with Content-Length %d", w.Body.Len(), n)
			}
		}
	})
}
