package cgi

import (
	"bufio"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"
)

// flushRecorder is a ResponseRecorder that reports each flush with the body
// written so far.
type flushRecorder struct {
	*httptest.ResponseRecorder
	flushes chan string
}

func (r *flushRecorder) Flush() {
	r.ResponseRecorder.Flush()
	r.flushes <- r.Body.String()
}

// TestCopyBodyFlush: what the script writes is flushed once stdout has
// stayed empty for the delay, and not at all when the output ends within
// it, so that a short response leaves in one write.
func TestCopyBodyFlush(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration
		// script writes to the pipe; flushed receives the flushes.
		script  func(t *testing.T, w *os.File, flushed <-chan string)
		want    string
		flushes []string
	}{
		{
			name:  "output ends within the delay",
			delay: time.Minute,
			script: func(t *testing.T, w *os.File, _ <-chan string) {
				w.WriteString("abc")
				time.Sleep(20 * time.Millisecond) // copyBody is waiting by now
				w.WriteString("def")
			},
			want: "abcdef",
		},
		{
			name:  "a pause longer than the delay",
			delay: time.Millisecond,
			script: func(t *testing.T, w *os.File, flushed <-chan string) {
				w.WriteString("first ")
				select {
				case <-flushed:
				case <-time.After(10 * time.Second):
					t.Error("no flush during the pause")
				}
				w.WriteString("second")
			},
			want:    "first second",
			flushes: []string{"first "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			rec := &flushRecorder{httptest.NewRecorder(), make(chan string, 10)}
			var got []string
			flushed := make(chan string, 1)
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer w.Close()
				tt.script(t, w, flushed)
			}()
			resDone := make(chan copyResult, 1)
			go func() {
				resDone <- copyBody(rec, bufio.NewReader(r), r, false, false, -1, tt.delay, func() {})
			}()
			var res copyResult
		wait:
			for {
				select {
				case b := <-rec.flushes:
					got = append(got, b)
					select {
					case flushed <- b:
					default:
					}
				case res = <-resDone:
					break wait
				}
			}
			<-done
			if res.werr != nil || res.rerr != nil {
				t.Fatalf("copyBody: %+v", res)
			}
			if body := rec.Body.String(); body != tt.want {
				t.Errorf("body %q, want %q", body, tt.want)
			}
			// The flushes the case means come first; a goroutine paused
			// past the delay between its last write and its close may
			// cause one more, which is right too.
			if len(got) < len(tt.flushes) || len(tt.flushes) == 0 && len(got) > 0 || !slices.Equal(got[:len(tt.flushes)], tt.flushes) {
				t.Errorf("flushes %q, want %q first", got, tt.flushes)
			}
		})
	}
}
