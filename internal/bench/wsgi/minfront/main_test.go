package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const testApp = `import os

def application(environ, start_response):
    if environ["PATH_INFO"] == "/gen":
        start_response("201 Created", [("Content-Type", "text/plain")])
        return (b"%d " % i for i in range(3))
    body = " ".join([environ["PATH_INFO"], environ["QUERY_STRING"], environ["HTTP_HOST"],
                     environ["SERVER_PORT"], str(os.getpid())]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// TestServe runs the real runner with one process of two sockets, takes a
// whole response (COMPLETE) and a streamed one (HEADERS, BODY..., END) over
// one keep-alive connection, and reaps the process once its sockets close.
func TestServe(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is missing (.ci/run installs it)")
		}
		t.Skip("python3 is not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(testApp), 0o644); err != nil {
		t.Fatal(err)
	}
	runner, err := filepath.Abs("../../../../worker/app/wsgi/runner/arbiter_wsgi.py")
	if err != nil {
		t.Fatal(err)
	}
	slots, pid, err := start(python, runner, "app:application", dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	// However the test ends: the sockets close, and the runner must exit
	// by itself with status 0.
	t.Cleanup(func() {
		for _, s := range slots {
			s.c.Close()
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
			t.Errorf("runner %d: %v, status %v", pid, err, ws)
		}
	})
	free := make(chan *slot, len(slots))
	for _, s := range slots {
		free <- s
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	done := make(chan struct{})
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		l.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			serveConn(c, free)
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	client := &http.Client{Transport: tr}
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/x?y=1", 200, fmt.Sprintf("/x y=1 127.0.0.1:%d %d %d", port, port, pid)},
		{"/gen", 201, "0 1 2 "},
		{"/again", 200, fmt.Sprintf("/again  127.0.0.1:%d %d %d", port, port, pid)},
	} {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, tc.path))
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.code || string(body) != tc.body {
			t.Errorf("GET %s: %d %q %v, want %d %q", tc.path, resp.StatusCode, body, err, tc.code, tc.body)
		}
	}
	// uwsgi: the variables as nginx sends them, then the response and the close.
	var vars []byte
	for _, kv := range [][2]string{{"REQUEST_METHOD", "GET"}, {"PATH_INFO", "/u"}, {"QUERY_STRING", "q"},
		{"HTTP_HOST", "front"}, {"SERVER_PORT", "80"}, {"CONTENT_LENGTH", ""}} {
		for _, x := range kv {
			vars = binary.LittleEndian.AppendUint16(vars, uint16(len(x)))
			vars = append(vars, x...)
		}
	}
	front, server := net.Pipe()
	go serveUwsgi(server, free)
	pkt := append([]byte{0, byte(len(vars)), byte(len(vars) >> 8), 0}, vars...)
	if _, err := front.Write(pkt); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(front)
	front.Close()
	body := fmt.Sprintf("/u q front 80 %d", pid)
	if want := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil || string(got) != want {
		t.Errorf("uwsgi: %q %v, want %q", got, err, want)
	}
}

// TestBrokenSlotDropped: a socket whose answer is not a response is closed
// and not handed to the next request.
func TestBrokenSlotDropped(t *testing.T) {
	mine, theirs := net.Pipe()
	defer theirs.Close()
	go func() {
		io.ReadFull(theirs, make([]byte, 9+len("A\x00b\x00"))) // the request
		theirs.Write([]byte{'X', 0, 0, 0, 0})
	}()
	free := make(chan *slot, 1)
	free <- &slot{c: mine, r: bufio.NewReader(mine)}
	req := add(make([]byte, 9), "A", []byte("b"))
	if _, err := ask(free, req, nil); err == nil {
		t.Fatal("ask: no error for frame type X")
	}
	if len(free) != 0 {
		t.Error("the broken slot is free again")
	}
	mine.SetWriteDeadline(time.Now().Add(time.Second)) // an open pipe would block
	if _, err := mine.Write([]byte{0}); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("write to the broken slot's socket: %v, want io.ErrClosedPipe", err)
	}
}
