package worker

import (
	"net"
	"net/http"
	"sync"
)

// requestLimits are gunicorn's limit_request_line, limit_request_fields and
// limit_request_field_size; 0 means unlimited, except for fields, where 0
// means 32768 as in gunicorn. net/http bounds the whole
// header block (MaxHeaderBytes, set from these) while reading; the finer
// limits are checked on the parsed request before the application sees it.
const maxFields = 32768

type requestLimits struct {
	line, fields, fieldSize int
}

// maxHeaderBytes is the bound for net/http: room for a full request line and
// the maximum number of maximal fields, or net/http's default (1 MiB) when any
// limit is off.
func (l requestLimits) maxHeaderBytes() int {
	if l.line == 0 || l.fields == 0 || l.fieldSize == 0 {
		return http.DefaultMaxHeaderBytes
	}
	return min(l.line+2+l.fields*(l.fieldSize+2), http.DefaultMaxHeaderBytes)
}

// check returns 0, or the status for a request over a limit: 414 for the
// request line, 431 for the header fields.
func (l requestLimits) check(r *http.Request) int {
	if l.fields == 0 {
		l.fields = maxFields
	}
	if l.line > 0 && len(r.Method)+1+len(r.RequestURI)+1+len(r.Proto) > l.line {
		return http.StatusRequestURITooLong
	}
	n := 0
	if r.Host != "" {
		n++
		if l.fieldSize > 0 && len("Host: ")+len(r.Host) > l.fieldSize {
			return http.StatusRequestHeaderFieldsTooLarge
		}
	}
	for name, values := range r.Header {
		n += len(values)
		if l.fieldSize > 0 {
			for _, v := range values {
				if len(name)+2+len(v) > l.fieldSize {
					return http.StatusRequestHeaderFieldsTooLarge
				}
			}
		}
	}
	if l.fields > 0 && n > l.fields {
		return http.StatusRequestHeaderFieldsTooLarge
	}
	return 0
}

// connLimitListener bounds the connections a worker holds at once: Accept
// waits for a free slot, which the server's ConnState hook returns when a
// connection closes. While one worker is full, its siblings accept from the
// shared socket.
type connLimitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	held map[net.Conn]struct{}
}

func newConnLimitListener(l net.Listener, n int) *connLimitListener {
	return &connLimitListener{Listener: l, slots: make(chan struct{}, max(n, 1)), done: make(chan struct{}),
		held: make(map[net.Conn]struct{})}
}

func (l *connLimitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	l.mu.Lock()
	l.held[c] = struct{}{}
	l.mu.Unlock()
	return c, nil
}

// release frees c's slot if this listener accepted it.
func (l *connLimitListener) release(c net.Conn) {
	l.mu.Lock()
	_, ok := l.held[c]
	delete(l.held, c)
	l.mu.Unlock()
	if ok {
		<-l.slots
	}
}

// Close closes the listener once; later calls return nil. The drain closes
// it first and net/http's Shutdown closes it again, and a second error
// there would read as a failed drain and cut it short.
func (l *connLimitListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}
