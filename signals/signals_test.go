package signals

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func TestParseAndName(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
		ok   bool
	}{
		{"HUP", syscall.SIGHUP, true}, {"sighup", syscall.SIGHUP, true}, {"ttin", syscall.SIGTTIN, true},
		{"15", syscall.SIGTERM, true}, {"USR2", syscall.SIGUSR2, true},
		{"", 0, false}, {"NOPE", 0, false}, {"0", 0, false}, {"99", 0, false},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if n := Name(syscall.SIGWINCH); n != "WINCH" {
		t.Errorf("Name(SIGWINCH) = %q", n)
	}
}

func TestActions(t *testing.T) {
	want := map[syscall.Signal]Action{
		syscall.SIGHUP: Reload, syscall.SIGTERM: GracefulStop, syscall.SIGINT: FastStop,
		syscall.SIGQUIT: FastStop, syscall.SIGTTIN: AddWorker, syscall.SIGTTOU: RemoveWorker,
		syscall.SIGUSR1: ReopenLogs, syscall.SIGUSR2: Upgrade, syscall.SIGWINCH: StopWorkers,
		syscall.SIGCHLD: ChildExited, syscall.SIGPIPE: None,
	}
	for sig, a := range want {
		if got := ActionOf(sig); got != a {
			t.Errorf("ActionOf(%v) = %v, want %v", sig, got, a)
		}
	}
	for _, s := range Handled {
		if ActionOf(s) == None {
			t.Errorf("%v is handled but has no action", s)
		}
	}
}

func TestCoalesce(t *testing.T) {
	var p []os.Signal
	for _, s := range []os.Signal{syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGCHLD, syscall.SIGCHLD} {
		p = Coalesce(p, s)
	}
	want := []os.Signal{syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTIN, syscall.SIGCHLD}
	if len(p) != len(want) {
		t.Fatalf("got %v, want %v", p, want)
	}
	for i := range want {
		if p[i] != want[i] {
			t.Fatalf("got %v, want %v", p, want)
		}
	}
}

// Real signals sent while nobody reads the queue are all delivered later.
func TestQueueKeepsSignalsWhileBusy(t *testing.T) {
	q := NewQueue(syscall.SIGUSR1, syscall.SIGWINCH)
	defer q.Stop()
	self := os.Getpid()
	for _, s := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGWINCH} {
		if err := Send(self, s); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // let the runtime deliver each before the next
	}
	got := map[os.Signal]bool{}
	timeout := time.After(5 * time.Second)
	for len(got) < 2 {
		select {
		case s := <-q.C():
			got[s] = true
		case <-timeout:
			t.Fatalf("got only %v", got)
		}
	}
}

func TestSendNoProcess(t *testing.T) {
	if err := Send(0, syscall.SIGHUP); err == nil {
		t.Fatal("pid 0 accepted")
	}
	if Alive(0) || !Alive(os.Getpid()) {
		t.Fatal("Alive is wrong")
	}
}
