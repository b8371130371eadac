package oneshot

import (
	"net"
	"sync"
	"time"
)

// WatchAfter is the tick of the watches: a handler that has run for one to
// two of them gets its connection watched for the peer going away. Most
// requests take less: they pay for no goroutine, read, deadline change or
// timer; a peer that goes away during one is noticed by the next write.
const WatchAfter = 10 * time.Millisecond

// Watch is the watch of a connection for its peer going away while a
// handler runs, started only once the request has run for a while
// (WatchAfter). The zero Watch is ready for Start.
//
// A timer per request would be simpler, and it cost more than the watch it
// saves: adding one wakes the network poller (an eventfd write) whenever
// it is the earliest timer, which doubled the time a kept-alive HTTP
// request took on one connection (BenchmarkKeepAlive in worker/http1).
// Instead, one goroutine per process ticks while any request is
// registered, and starts the watch of each request it finds on two ticks
// in a row.
type Watch struct {
	mu       sync.Mutex
	armed    bool // registered with the ticker
	stopped  bool
	watching bool
	done     chan struct{}
	conn     net.Conn
	run      func()
}

// Start arranges for run to be called in a goroutine of its own, with c's
// read deadline cleared, once the request has run for one to two
// WatchAfter ticks, unless Stop comes first. run reads from c until the
// peer closes it, data comes, or a read fails with a timeout (Stop). Calls
// after the first, and after Stop, do nothing.
func (w *Watch) Start(c net.Conn, run func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed || w.stopped {
		return
	}
	w.armed, w.conn, w.run = true, c, run
	watches.add(w)
}

// Stop ends the watch, or keeps it from starting, and reports whether it
// ran. When it ran, Stop has set c's read deadline in the past to end it
// and has waited for run to return.
func (w *Watch) Stop(c net.Conn) (ran bool) {
	w.mu.Lock()
	w.stopped = true
	armed := w.armed
	ran = w.watching
	w.mu.Unlock()
	if ran {
		c.SetReadDeadline(aLongTimeAgo)
		<-w.done
	} else if armed {
		watches.remove(w)
	}
	return ran
}

// begin starts the watch unless Stop came first.
func (w *Watch) begin() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.watching = true
	w.done = make(chan struct{})
	w.conn.SetReadDeadline(time.Time{}) // under mu: Stop's deadline comes after it
	go func() {
		defer close(w.done)
		w.run()
	}()
}

// watchSet is the process's registered watches and their ticker.
type watchSet struct {
	mu      sync.Mutex
	pending map[*Watch]bool // seen by a tick already
	ticking bool
}

var watches watchSet

func (s *watchSet) add(w *Watch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = make(map[*Watch]bool)
	}
	s.pending[w] = false
	if !s.ticking {
		s.ticking = true
		go s.tick()
	}
}

func (s *watchSet) remove(w *Watch) {
	s.mu.Lock()
	delete(s.pending, w)
	s.mu.Unlock()
}

// tick starts the watches seen on two ticks in a row, and ends once a tick
// finds none registered.
func (s *watchSet) tick() {
	t := time.NewTicker(WatchAfter)
	defer t.Stop()
	var due []*Watch
	for range t.C {
		s.mu.Lock()
		due = due[:0]
		for w, seen := range s.pending {
			if seen {
				due = append(due, w)
				delete(s.pending, w)
			} else {
				s.pending[w] = true
			}
		}
		idle := len(s.pending) == 0 && len(due) == 0
		if idle {
			s.ticking = false
		}
		s.mu.Unlock()
		if idle {
			return
		}
		for _, w := range due {
			w.begin()
		}
	}
}
