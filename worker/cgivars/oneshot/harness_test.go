package oneshot

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/arbiter-dev/arbiter/internal/testutil"
	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/peerlog"
	"github.com/rs/zerolog"
)

// harness is a Server with lineProto under test.
type harness struct {
	*testutil.Harness
	srv *Server
}

func start(t *testing.T, h http.Handler, configure ...func(*Server)) *harness {
	t.Helper()
	logs := &testutil.Buffer{}
	srv := &Server{Protocol: lineProto, Handler: h, MaxHeadBytes: 4096,
		Log: peerlog.New(zerolog.New(logs), "lines")}
	for _, f := range configure {
		f(srv)
	}
	return &harness{testutil.Serve(t, srv, logs, "oneshot.(*"), srv}
}

// lineProto is a test protocol: "KEY=VALUE\n" lines, then an empty line.
var lineProto = Protocol{Name: "lines", Style: cgivars.StatusHeader, Dechunk: true, ReadHead: func(br *bufio.Reader, max int) (map[string]string, error) {
	env := map[string]string{}
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if total > max {
			return nil, errors.New("head too large")
		}
		if err != nil {
			return nil, fmt.Errorf("reading the head: %w", err)
		}
		s := strings.TrimSuffix(string(line), "\n")
		if s == "" {
			return env, nil
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("%w: no = in %q", cgivars.ErrBadRequest, s)
		}
		env[k] = v
	}
}}

func head(kv ...string) string {
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		b.WriteString(kv[i] + "=" + kv[i+1] + "\n")
	}
	return b.String() + "\n"
}

var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s cl=%d body=%s", r.Method, r.URL.RequestURI(), r.ContentLength, b)
})

// ok200 is the response echo gives with body b.
func ok200(b string) string {
	return fmt.Sprintf("Status: 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s", len(b), b)
}

func mustListen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// oneConnListener yields one connection, then blocks until closed.
type oneConnListener struct {
	mu   sync.Mutex
	c    net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }

func (pipeAddr) String() string { return "pipe" }
