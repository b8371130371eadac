package arbitertest

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/internal/testutil"
	"github.com/arbiter-dev/arbiter/worker"
	"github.com/arbiter-dev/arbiter/worker/info"
)

func TestHooksOrderAndFailures(t *testing.T) {
	testutil.CheckLeaks(t, "arbiter/worker.", "arbitertest.")
	var calls []string
	app := worker.App{
		PostFork: func(w info.Worker) error { calls = append(calls, "post_fork"); return nil },
		Load: func() (http.Handler, error) {
			calls = append(calls, "load")
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }), nil
		},
		PostWorkerInit: func(w info.Worker) error { calls = append(calls, "post_worker_init"); return nil },
		WorkerExit:     func(w info.Worker) { calls = append(calls, "worker_exit") },
	}
	s, err := Start(app, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hi" {
		t.Fatalf("reply %q", b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(calls, ","); got != "post_fork,load,post_worker_init,worker_exit" {
		t.Fatalf("hooks ran as %s", got)
	}

	tests := []struct {
		name string
		app  worker.App
		want error
	}{
		{"post_fork error", worker.App{Handler: http.NotFoundHandler(), PostFork: func(info.Worker) error { return errors.New("no") }}, worker.ErrBoot},
		{"post_fork panic", worker.App{Handler: http.NotFoundHandler(), PostFork: func(info.Worker) error { panic("boom") }}, worker.ErrBoot},
		{"load error", worker.App{Load: func() (http.Handler, error) { return nil, errors.New("db down") }}, worker.ErrAppLoad},
		{"post_worker_init error", worker.App{Handler: http.NotFoundHandler(), PostWorkerInit: func(info.Worker) error { return errors.New("no") }}, worker.ErrAppLoad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Start(tt.app, "", nil); !errors.Is(err, tt.want) {
				t.Fatalf("Start: %v, want %v", err, tt.want)
			}
		})
	}
}
