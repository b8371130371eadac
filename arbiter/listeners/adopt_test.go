package listeners

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/arbiter/config"
)

func TestAdoptKeepsBindsAndReportsUnused(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "k.sock")
	have, err := Open([]config.Listen{{Address: "127.0.0.1:0", Protocol: "http"}, {Address: "unix:" + sock, Protocol: "http"}}, 16)
	if err != nil {
		t.Fatal(err)
	}
	tcp, uds := have[0], have[1]
	tcpFD := tcp.FD
	// Keep the unix socket with a new protocol, drop the TCP one, add another.
	next, err := Adopt([]config.Listen{{Address: "unix:" + sock, Protocol: "fastcgi"}, {Address: "127.0.0.1:0", Protocol: "scgi"}}, 16,
		[]*Listener{uds})
	if err != nil {
		t.Fatal(err)
	}
	if next[0] != uds || next[0].Spec.Protocol != "fastcgi" {
		t.Fatalf("unix listener not kept with its new protocol: %+v", next[0])
	}
	if next[1] == tcp || next[1].FD == tcpFD {
		t.Fatal("a new address reused an old socket")
	}
	unused := Unused(have, next)
	if len(unused) != 1 || unused[0] != tcp {
		t.Fatalf("unused = %v", unused)
	}
	CloseAll(unused)
	CloseAll(next)
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatal("socket file left")
	}
}

func TestAdoptErrorClosesWhatItBound(t *testing.T) {
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	before := countFDs(t)
	if _, err := Adopt([]config.Listen{{Address: "127.0.0.1:0"}, {Address: busy.Addr().String()}}, 16, nil); err == nil {
		t.Fatal("bound a busy port")
	}
	if after := countFDs(t); after != before {
		t.Fatalf("fds %d -> %d", before, after)
	}
}

func TestInheritAndRelease(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "i.sock")
	ls, err := Open([]config.Listen{{Address: "unix:" + sock}}, 16)
	if err != nil {
		t.Fatal(err)
	}
	// Hand a duplicate over, as the old master does, then release ours.
	dup, _ := unix.Dup(ls[0].FD)
	ls[0].Release()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatal("Release removed the socket file")
	}
	l, err := Inherit(dup, config.Listen{Address: "unix:" + sock, Protocol: "http"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("inherited socket does not accept: %v", err)
	}
	c.Close()
	l.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatal("the inheriting process did not own the socket file")
	}
	if _, err := Inherit(0, config.Listen{Address: "x"}); err == nil {
		t.Fatal("inherited stdin as a listener")
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestActivatedAndChown(t *testing.T) {
	dir := t.TempDir()
	ls, err := Open([]config.Listen{{Address: "unix:" + filepath.Join(dir, "c.sock")}}, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(ls)
	if ls[0].Activated() {
		t.Fatal("a bound socket reported as activated")
	}
	if err := ls[0].Chown(65534, 65534); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(dir, "c.sock"), &st)
	if st.Uid != 65534 || st.Gid != 65534 {
		t.Fatalf("owner %d:%d", st.Uid, st.Gid)
	}
	if _, err := Open([]config.Listen{{Address: "systemd:web"}}, 16); err == nil {
		t.Fatal("opened a systemd socket that was never passed")
	}
	// A blocking socket handed over (systemd's default) becomes non-blocking.
	s, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	unix.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	unix.Listen(s, 8)
	l, err := Inherit(s, config.Listen{Address: "systemd:web"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if nb, _ := Nonblocking(l.FD); !nb || !l.Activated() {
		t.Fatalf("non-blocking %v, activated %v", nb, l.Activated())
	}
}
