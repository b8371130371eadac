package worker

import (
	"net/http"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbiter-dev/arbiter/internal/procfs"
	"github.com/arbiter-dev/arbiter/ipc"
)

// tracker counts requests, knows the oldest one in flight, and fires onLimit
// once when the worker has served its max_requests.
type tracker struct {
	limit   uint64
	onLimit func()
	fired   atomic.Bool
	served  atomic.Uint64
	// buckets[i] counts the requests that took at most
	// ipc.DurationBuckets[i] and more than the bound before; the last one
	// counts the rest. sumNanos is their total time.
	buckets  []atomic.Uint64
	sumNanos atomic.Int64
	apps     func() []ipc.AppProcess // the app processes, for stats; nil when there are none

	mu       sync.Mutex
	inFlight int
	head     *flight // oldest
	tail     *flight
}

type flight struct {
	start      time.Time
	prev, next *flight
}

func newTracker(limit int, onLimit func()) *tracker {
	return &tracker{limit: uint64(max(limit, 0)), onLimit: onLimit,
		buckets: make([]atomic.Uint64, len(ipc.DurationBuckets)+1)}
}

func (t *tracker) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := t.begin()
		defer t.end(f)
		h.ServeHTTP(w, r)
	})
}

func (t *tracker) begin() *flight {
	f := &flight{start: time.Now()}
	t.mu.Lock()
	t.inFlight++
	if t.tail == nil {
		t.head, t.tail = f, f
	} else {
		f.prev, t.tail.next, t.tail = t.tail, f, f
	}
	t.mu.Unlock()
	return f
}

func (t *tracker) end(f *flight) {
	t.mu.Lock()
	t.inFlight--
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		t.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		t.tail = f.prev
	}
	t.mu.Unlock()
	t.observe(time.Since(f.start))
	n := t.served.Add(1)
	if t.limit > 0 && n >= t.limit && t.fired.CompareAndSwap(false, true) {
		t.onLimit()
	}
}

func (t *tracker) stats() ipc.Stats {
	t.mu.Lock()
	s := ipc.Stats{InFlight: t.inFlight}
	if t.head != nil {
		s.OldestInFlight = time.Since(t.head.start)
	}
	t.mu.Unlock()
	s.Requests = t.served.Load()
	s.Durations = t.durations()
	s.RSS = procfs.RSS(0)
	s.Goroutines = runtime.NumGoroutine()
	if t.apps != nil {
		s.Apps = t.apps()
	}
	return s
}

func (t *tracker) observe(d time.Duration) {
	secs := d.Seconds()
	i := sort.SearchFloat64s(ipc.DurationBuckets, secs) // the first bound ≥ secs
	t.buckets[i].Add(1)
	t.sumNanos.Add(int64(d))
}

// durations is the histogram so far, cumulative, its count the sum of its
// buckets so that the +Inf bucket and the count agree.
func (t *tracker) durations() *ipc.Histogram {
	h := &ipc.Histogram{Counts: make([]uint64, len(ipc.DurationBuckets))}
	var n uint64
	for i := range t.buckets {
		n += t.buckets[i].Load()
		if i < len(h.Counts) {
			h.Counts[i] = n
		}
	}
	h.Count = n
	h.Sum = time.Duration(t.sumNanos.Load()).Seconds()
	return h
}
