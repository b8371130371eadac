package static

import (
	"os"
	"testing"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(entries)
}

// TestNoFDLeak serves 200 requests of every outcome and checks that the
// process holds as many file descriptors after them as before.
func TestNoFDLeak(t *testing.T) {
	root, _ := fixture(t)
	h := mustNew(t, root, []string{"index.html", "index.htm"})
	reqs := []struct {
		method, target string
		header         map[string]string
		status         int
	}{
		{"GET", "/style.css", nil, 200},
		{"HEAD", "/style.css", nil, 200},
		{"GET", "/", nil, 200},
		{"GET", "/alt/", nil, 200}, // skips a directory named index.html
		{"GET", "/empty/", nil, 404},
		{"GET", "/docs", nil, 301},
		{"GET", "/nope", nil, 404},
		{"GET", "/style.css/", nil, 404},
		{"GET", "/escape", nil, 404},
		{"GET", "/escape-dir/secret.txt", nil, 404},
		{"GET", "/loop", nil, 404},
		{"GET", "/fifo", nil, 404},
		{"GET", "/.env", nil, 404},
		{"GET", "/alphabet", map[string]string{"Range": "bytes=0-1,3-4"}, 206},
		{"GET", "/alphabet", map[string]string{"Range": "bytes=99-"}, 416},
		{"GET", "/alphabet", map[string]string{"If-None-Match": "*"}, 304},
		{"POST", "/alphabet", nil, 405},
	}
	serve := func(i int) {
		rq := reqs[i%len(reqs)]
		if w := do(h, rq.method, rq.target, rq.header); w.Code != rq.status {
			t.Fatalf("%s %s: status %d, want %d", rq.method, rq.target, w.Code, rq.status)
		}
	}
	serve(0) // warm up anything the runtime opens once
	before := openFDs(t)
	for i := range 200 {
		serve(i)
	}
	if after := openFDs(t); after != before {
		t.Fatalf("open file descriptors: %d before 200 requests, %d after", before, after)
	}
}
