package wsgi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A frame other than ABORT while a response is being sent is the worker's
// protocol error, not the app's: the runner calls the iterable's close()
// and ends the process with "protocol error from the worker", rather than
// logging it as the app raising and taking the frame for the next request.
func TestRunnerProtocolErrorMidResponse(t *testing.T) {
	dir, err := filepath.Abs("testdata/apps")
	if err != nil {
		t.Fatal(err)
	}
	runner, err := filepath.Abs("runner/arbiter_wsgi.py")
	if err != nil {
		t.Fatal(err)
	}
	c, peer, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg, _ := json.Marshal(map[string]any{"mode": "serve", "module": "conformance:application",
		"threads": 1, "dump": -1, "slots": []int{3}})
	var stderr bytes.Buffer
	cmd := exec.Command(testPython(t), runner)
	cmd.Dir, cmd.Stderr = dir, &stderr
	cmd.Env = append(os.Environ(), "ARBITER_WSGI="+string(cfg), "PYTHONDONTWRITEBYTECODE=1")
	cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(peer), "slot")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles[0].Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	rd := newFrameReader(c)
	defer rd.recycle()
	next := func() (byte, []byte) {
		t.Helper()
		kind, n, err := rd.header()
		if err != nil {
			t.Fatalf("read a frame: %v", err)
		}
		p, err := rd.payload(n)
		if err != nil {
			t.Fatal(err)
		}
		return kind, p
	}
	if kind, p := next(); kind != frameReady {
		t.Fatalf("frame %q %q, want READY", kind, p)
	}
	var e env
	for _, kv := range [][2]string{{"REQUEST_METHOD", "GET"}, {"PATH_INFO", "/forever"}, {"SCRIPT_NAME", ""}, {"QUERY_STRING", ""}} {
		e.add(kv[0], kv[1])
	}
	request := func() []byte {
		b := appendHeader(nil, frameRequest, 4+len(e.b))
		return append(binary.LittleEndian.AppendUint32(b, uint32(len(e.b))), e.b...)
	}
	if _, err := c.Write(request()); err != nil {
		t.Fatal(err)
	}
	if kind, p := next(); kind != frameHeaders {
		t.Fatalf("frame %q %q, want HEADERS", kind, p)
	}
	if _, err := c.Write(request()); err != nil { // a second request mid-response
		t.Fatal(err)
	}
	for {
		kind, n, err := rd.header()
		if err != nil {
			break // the process closed its socket
		}
		p, _ := rd.payload(n)
		if kind == frameLog || kind == frameEnd || kind == frameHeaders {
			t.Fatalf("frame %q %q after the protocol error", kind, p)
		}
	}
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("runner ended with %v, want exit status 1", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the runner did not exit")
	}
	if !strings.Contains(stderr.String(), "protocol error from the worker: frame type 0x52 while a response is being sent") {
		t.Fatalf("stderr %q", stderr.String())
	}
}
