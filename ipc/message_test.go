package ipc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter/config"
)

func TestRoundTrip(t *testing.T) {
	msgs := []Message{
		{Kind: KindReady, Stats: Stats{RSS: 1 << 20}},
		{Kind: KindHeartbeat, Stats: Stats{Requests: 42, InFlight: 3, OldestInFlight: 1500 * time.Millisecond, RSS: 9 << 20}},
		{Kind: KindHeartbeat, Stats: Stats{Requests: 7, Apps: []AppProcess{
			{PID: 100, State: "busy", Busy: 1, Threads: 2, Requests: 5, RSS: 30 << 20, AgeSeconds: 1.5},
			{PID: 101, State: "idle", Threads: 2, Requests: 2, RSS: 31 << 20, AgeSeconds: 0.5},
		}}},
		{Kind: KindRecycle},
		{Kind: KindStop, Graceful: true},
		{Kind: KindStop},
		{Kind: KindReopenLogs},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, m := range msgs {
		if err := w.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf)
	for i, want := range msgs {
		got, err := r.Read()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("message %d: got %+v, want %+v", i, got, want)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Errorf("after the last frame: got %v, want io.EOF", err)
	}
}

func TestBadFrames(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  func(error) bool
	}{
		{"version", []byte{9, 1, 0, 2, '{', '}'}, func(err error) bool { return errors.Is(err, ErrVersion) }},
		{"truncated header", []byte{1, 1}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"truncated payload", []byte{1, 1, 0, 10, '{'}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"oversized", []byte{1, 1, 0xff, 0xff}, func(err error) bool { return err != nil }},
		{"bad json", []byte{1, 2, 0, 1, 'x'}, func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.input)).Read()
			if !tt.want(err) {
				t.Errorf("got %v", err)
			}
		})
	}
}

// Frames from concurrent senders on a real pipe never interleave.
func TestConcurrentSendersOnPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	w := NewWriter(pw)
	const senders, each = 8, 200
	var wg sync.WaitGroup
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if err := w.Send(Message{Kind: KindHeartbeat, Stats: Stats{Requests: uint64(i*each + j)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); pw.Close() }()
	r := NewReader(pr)
	seen := map[uint64]bool{}
	for {
		m, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[m.Stats.Requests] = true
	}
	if len(seen) != senders*each {
		t.Fatalf("got %d distinct frames, want %d", len(seen), senders*each)
	}
}

func TestBootRoundTrip(t *testing.T) {
	b := &Boot{ID: 7, Generation: 2, ControlFD: 3, StatusFD: 4, MaxRequests: 1000,
		Listeners: []Listener{{FD: 5, Address: "127.0.0.1:8000", Protocol: "http"}},
		Config:    &config.Config{Workers: 2, Timeout: 30 * time.Second}}
	s, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBoot(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 7 || got.Generation != 2 || got.Listeners[0].FD != 5 || got.Config.Timeout != 30*time.Second {
		t.Fatalf("round trip changed the boot document: %+v", got)
	}
	if _, err := DecodeBoot(""); err == nil {
		t.Fatal("empty boot document accepted")
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	_ = NewWriter(&buf).Send(Message{Kind: KindHeartbeat, Stats: Stats{Requests: 1}})
	f.Add(buf.Bytes())
	f.Add([]byte{1, 16, 0, 17, '{', '"', 'g', 'r', 'a', 'c', 'e', 'f', 'u', 'l', '"', ':', 't', 'r', 'u', 'e', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for range 100 {
			if _, err := r.Read(); err != nil {
				return
			}
		}
	})
}

func TestUpgradeRoundTrip(t *testing.T) {
	u := &Upgrade{Parent: 42, ReadyFD: 7, LifelineFD: 8, Listeners: []Listener{{FD: 3, Address: "unix:/run/a.sock", Protocol: "fastcgi"}}}
	s, err := u.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeUpgrade(s)
	if err != nil || got.Parent != 42 || got.Listeners[0].Address != "unix:/run/a.sock" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range []string{"", "{}", `{"parent":1,"ready_fd":1,"lifeline_fd":9}`} {
		if _, err := DecodeUpgrade(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// worstApp is an app process entry as long as one can be.
func worstApp(i int) AppProcess {
	return AppProcess{PID: 4194304 - i, State: "recycling", Busy: 1024, Threads: 1024, Requests: 1<<64 - 1,
		RSS: 1<<63 - 1, AgeSeconds: 31536000.123456789}
}

// A heartbeat lists every app process of an app at its largest (256), and
// with more than fit sends the first ones that do and says how many it
// left out, instead of failing (which the worker takes for a dead master).
func TestHeartbeatAppsFit(t *testing.T) {
	for _, n := range []int{256, 1024} {
		apps := make([]AppProcess, n)
		for i := range apps {
			apps[i] = worstApp(i)
		}
		stats := Stats{Requests: 1<<64 - 1, InFlight: 1 << 20, OldestInFlight: 1 << 62, RSS: 1<<63 - 1, Apps: apps}
		var buf bytes.Buffer
		if err := NewWriter(&buf).Send(Message{Kind: KindHeartbeat, Stats: stats}); err != nil {
			t.Fatalf("%d app processes: %v", n, err)
		}
		if buf.Len() > 4+maxPayload {
			t.Fatalf("%d app processes: a frame of %d bytes", n, buf.Len())
		}
		m, err := NewReader(&buf).Read()
		if err != nil {
			t.Fatal(err)
		}
		got := m.Stats
		if len(got.Apps)+got.AppsOmitted != n || !reflect.DeepEqual(got.Apps, apps[:len(got.Apps)]) {
			t.Fatalf("%d app processes: got %d and %d omitted", n, len(got.Apps), got.AppsOmitted)
		}
		if n == 256 && got.AppsOmitted != 0 {
			t.Fatalf("256 app processes: %d omitted", got.AppsOmitted)
		}
		if got.AppsOmitted > 0 {
			one := m
			one.Stats.Apps = apps[:len(got.Apps)+1]
			one.Stats.AppsOmitted--
			if b, _ := json.Marshal(one); len(b) <= maxPayload {
				t.Fatalf("%d app processes: %d sent, yet %d would fit", n, len(got.Apps), len(got.Apps)+1)
			}
		}
	}
}
