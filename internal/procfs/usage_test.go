package procfs

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestUsage(t *testing.T) {
	before := FDs(os.Getpid())
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	if n := FDs(os.Getpid()); n != before+1 {
		t.Errorf("FDs = %d after one more open, was %d", n, before)
	}
	f.Close()
	if n := Threads(os.Getpid()); n < 1 {
		t.Errorf("Threads = %d", n)
	}
	if FDs(1<<30) != -1 || Threads(1<<30) != -1 {
		t.Error("a missing process has descriptors or threads")
	}
}

// TCPPeers sees both ends of a loopback connection in this process, and
// not the listener.
func TestTCPPeers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	peers, err := TCPPeers(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{c.LocalAddr().String(), l.Addr().String()} {
		if !slices.Contains(peers, netip.MustParseAddrPort(want)) {
			t.Errorf("peers %v lack %s", peers, want)
		}
	}
	if _, err := TCPPeers(1 << 30); err == nil {
		t.Error("a missing process has peers")
	}
}

func TestParseHexAddr(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"00000000:0000", "0.0.0.0:0"},
		{"00000000000000000000000001000000:0050", "[::1]:80"},
		{"0000000000000000FFFF00000100007F:01BB", "127.0.0.1:443"}, // v4-mapped
	} {
		got, err := parseHexAddr(tt.in)
		if err != nil || got.String() != tt.want {
			t.Errorf("%s: %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "0100007F", "zz00007F:0050", "0100007F:zz", "01007F:0050", "0100007F:10000"} {
		if _, err := parseHexAddr(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := parseTCPTable("  sl  local_address rem_address\n 0: 0100007F:1F90\n"); err == nil {
		t.Error("a short row parsed")
	}
}

func TestStopped(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	if Stopped(pid) {
		t.Fatal("a running process is stopped")
	}
	syscall.Kill(pid, syscall.SIGSTOP)
	deadline := time.Now().Add(5 * time.Second)
	for !Stopped(pid) {
		if time.Now().After(deadline) {
			t.Fatal("SIGSTOP did not stop it")
		}
		time.Sleep(time.Millisecond)
	}
	if Stopped(1 << 30) {
		t.Fatal("a missing process is stopped")
	}
}
