package systemd

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// notifySocket listens on a unixgram socket in a temp dir, as systemd's
// NOTIFY_SOCKET, and returns a function reading the next message.
func notifySocket(t *testing.T) func() string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return func() string {
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotifications(t *testing.T) {
	next := notifySocket(t)
	var n Notifier
	if !n.Enabled() {
		t.Fatal("not enabled with NOTIFY_SOCKET set")
	}
	tests := []struct {
		send func() error
		want []string
	}{
		{func() error { return n.Ready("2 workers\nready") }, []string{"READY=1", "STATUS=2 workers ready"}},
		{func() error { return n.Reloading("generation 2") }, []string{"RELOADING=1", "MONOTONIC_USEC=", "STATUS=generation 2"}},
		{func() error { return n.Stopping("bye") }, []string{"STOPPING=1", "STATUS=bye"}},
		{func() error { return n.Status("busy") }, []string{"STATUS=busy"}},
		{func() error { return n.MainPID(4242) }, []string{"MAINPID=4242"}},
		{n.Watchdog, []string{"WATCHDOG=1"}},
	}
	for _, tt := range tests {
		if err := tt.send(); err != nil {
			t.Fatal(err)
		}
		got := next()
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("message %q lacks %q", got, w)
			}
		}
	}
}

func TestReloadingTimestampIsMonotonic(t *testing.T) {
	next := notifySocket(t)
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	before := ts.Sec*1_000_000 + ts.Nsec/1000
	if err := (Notifier{}).Reloading(""); err != nil {
		t.Fatal(err)
	}
	msg := next()
	i := strings.Index(msg, "MONOTONIC_USEC=")
	v, _ := strconv.ParseInt(strings.Fields(msg[i+len("MONOTONIC_USEC="):])[0], 10, 64)
	if v < before || v > before+5_000_000 {
		t.Fatalf("MONOTONIC_USEC %d, clock was %d", v, before)
	}
}

func TestNoSocketIsNoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := (Notifier{}).Ready("x"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent"))
	if err := (Notifier{}).Ready("x"); err == nil {
		t.Fatal("no error for a missing socket")
	}
}

func TestWatchdogInterval(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	tests := []struct {
		usec, pid string
		also      []int
		want      time.Duration
	}{
		{"", "", nil, 0},
		{"2000000", "", nil, time.Second},
		{"2000000", me, nil, time.Second},
		{"2000000", "1", nil, 0},
		{"2000000", "1", []int{1}, time.Second},
		{"nonsense", me, nil, 0},
	}
	for _, tt := range tests {
		t.Setenv("WATCHDOG_USEC", tt.usec)
		t.Setenv("WATCHDOG_PID", tt.pid)
		if got := WatchdogInterval(tt.also...); got != tt.want {
			t.Errorf("USEC=%q PID=%q also=%v: %v, want %v", tt.usec, tt.pid, tt.also, got, tt.want)
		}
	}
}

func TestSocketsFromActivation(t *testing.T) {
	// Put two listening sockets at fds 3 and 4, as systemd would.
	var saved []int
	for _, fd := range []int{3, 4} {
		if d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 10); err == nil {
			saved = append(saved, d)
			t.Cleanup(func() { unix.Dup3(d, fd, unix.O_CLOEXEC); unix.Close(d) })
		} else {
			t.Cleanup(func() { unix.Close(fd) })
		}
	}
	var addrs []string
	for _, fd := range []int{3, 4} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		rc, _ := l.(*net.TCPListener).SyscallConn()
		rc.Control(func(s uintptr) { unix.Dup3(int(s), fd, 0) })
		l.Close()
	}
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	t.Setenv("LISTEN_FDS", "2")
	t.Setenv("LISTEN_FDNAMES", "web:admin")
	socks, err := Sockets()
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 2 || socks[0].Name != "web" || socks[1].Name != "admin" {
		t.Fatalf("sockets %+v", socks)
	}
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if _, ok := os.LookupEnv(v); ok {
			t.Errorf("%s still set", v)
		}
	}
	if s, ok := Find(socks, "admin"); !ok || s.Index != 1 {
		t.Errorf("Find admin: %+v %v", s, ok)
	}
	if s, ok := Find(socks, "0"); !ok || s.Name != "web" {
		t.Errorf("Find 0: %+v %v", s, ok)
	}
	if _, ok := Find(socks, "nope"); ok {
		t.Error("found a socket that is not there")
	}
	for i, s := range socks {
		c, err := net.Dial("tcp", addrs[i])
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		flags, _ := unix.FcntlInt(uintptr(s.FD), unix.F_GETFD, 0)
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("socket %d not close-on-exec", i)
		}
		unix.Close(s.FD)
	}
	// Another pid's sockets are not ours.
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDS", "1")
	if socks, _ := Sockets(); len(socks) != 0 {
		t.Fatalf("took another process's sockets: %+v", socks)
	}
	_ = saved
}
