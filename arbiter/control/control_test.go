package control

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func echoHandler(req Request, _ <-chan struct{}) Reply {
	return Reply{OK: true, Message: req.Command + " " + req.Workers}
}

func TestListenAndCall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new") // Listen creates it
	path := filepath.Join(dir, "ctl.sock")
	s, err := Listen(path, false, zerolog.Nop(), echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v", di.Mode())
	}
	r, err := Call(path, Request{Command: "scale", Workers: "+1"}, 5*time.Second)
	if err != nil || !r.OK || r.Message != "scale +1" {
		t.Fatalf("Call: %+v %v", r, err)
	}

	// A second server on a live socket is refused unless it replaces it.
	if _, err := Listen(path, false, zerolog.Nop(), echoHandler); err == nil || !strings.Contains(err.Error(), "another master listens on it") {
		t.Fatalf("second Listen: %v", err)
	}
	s2, err := Listen(path, true, zerolog.Nop(), func(Request, <-chan struct{}) Reply { return Reply{OK: true, Message: "new"} })
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := Call(path, Request{Command: "status"}, 5*time.Second); r.Message != "new" {
		t.Fatalf("after the replacement: %+v", r)
	}
	// The replaced server leaves the new one's file alone.
	s.Close(time.Second)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the old server removed the new one's socket: %v", err)
	}
	s2.Close(time.Second)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	if _, err := Call(path, Request{Command: "status"}, time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Call with no server: %v", err)
	}
}

func TestListenEdges(t *testing.T) {
	dir := t.TempDir()
	// A stale socket file (nobody listens) is removed.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	s, err := Listen(stale, false, zerolog.Nop(), echoHandler)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	s.Close(time.Second)
	// A file that is not a socket is never removed.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(plain, true, zerolog.Nop(), echoHandler); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("over a plain file: %v", err)
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep" {
		t.Fatal("the plain file was touched")
	}
}

func TestBadRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	s, err := Listen(path, false, zerolog.Nop(), echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(time.Second)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("not json\n")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 256)
	n, _ := c.Read(b)
	if !strings.HasPrefix(string(b[:n]), `{"ok":false,"error":"bad request: `) {
		t.Fatalf("reply %q", b[:n])
	}
}
