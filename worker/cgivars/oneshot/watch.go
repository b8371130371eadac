package oneshot

import (
	"net"
	"sync"
	"time"
)

// WatchAfter is how long a handler runs before its connection is watched
// for the peer going away. Most requests take less: they pay for no
// goroutine, read or deadline change; a peer that goes away during one is
// noticed by the next write.
const WatchAfter = 10 * time.Millisecond

// Watch is the watch of a connection for its peer going away while a
// handler runs, started only once the request has run for WatchAfter. The
// zero Watch is ready for Start.
type Watch struct {
	mu       sync.Mutex
	stopped  bool
	watching bool
	done     chan struct{}
	timer    *time.Timer
}

// Start arranges for run to be called in WatchAfter, in a goroutine of
// its own, with c's read deadline cleared, unless Stop comes first. run
// reads from c until the peer closes it, data comes, or a read fails with
// a timeout (Stop). Calls after the first, and after Stop, do nothing.
func (w *Watch) Start(c net.Conn, run func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil || w.stopped {
		return
	}
	w.timer = time.AfterFunc(WatchAfter, func() {
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			return
		}
		w.watching = true
		w.done = make(chan struct{})
		c.SetReadDeadline(time.Time{}) // under mu: Stop's deadline comes after it
		w.mu.Unlock()
		defer close(w.done)
		run()
	})
}

// Stop ends the watch, or keeps it from starting, and reports whether it
// ran. When it ran, Stop has set c's read deadline in the past to end it
// and has waited for run to return.
func (w *Watch) Stop(c net.Conn) (ran bool) {
	w.mu.Lock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
	ran = w.watching
	w.mu.Unlock()
	if ran {
		c.SetReadDeadline(aLongTimeAgo)
		<-w.done
	}
	return ran
}
