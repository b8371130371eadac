package wsgi

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/ipc"
)

// Errors acquire returns.
var (
	// errUnavailable: no app process is ready and the last one to start
	// failed: the request gets 503 at once rather than waiting.
	errUnavailable = errors.New("no app process is available")
	errClosed      = errors.New("the app is shutting down")
)

type procState int

const (
	starting  procState = iota // spawned, not READY yet
	ready                      // serving
	recycling                  // serving until a replacement is ready (max_requests, max_memory)
	draining                   // no new requests; closed once idle
	killing                    // being killed (request_timeout, protocol error)
	dead                       // exited
)

func (s procState) String() string {
	return [...]string{"starting", "ready", "recycling", "draining", "killing", "dead"}[s]
}

// proc is one app process. id, start and firstRead never change; pid,
// forked, slots and fds are set under pool.mu before the goroutines that
// use them start; the fields after them are guarded by pool.mu.
type proc struct {
	id     int
	pid    int
	forked bool // by the zygote, which reaps it; else the worker reaps it
	slots  []*slot
	fds    *childFDs
	start  time.Time
	// firstRead is closed when awaitReady's read of the first frame has
	// returned: until then the process's sockets stay open for it.
	firstRead chan struct{}

	state      procState
	busy       int
	requests   uint64
	limit      uint64 // max_requests with its jitter; 0 = none
	killedFor  string // why the pool killed it (request_timeout, ...)
	dumpTo     chan string
	exitTimer  *time.Timer
	exited     chan struct{} // closed when it has exited
	exitStatus syscall.WaitStatus
	rss        int64

	captureOnce sync.Once
}

// slot is one thread of a process, with its own socket. Its fields after rd
// are guarded by pool.mu; rd is used by the request holding the slot.
type slot struct {
	p   *proc
	c   *net.UnixConn
	rd  *frameReader
	seq uint64
	use bool
	// The request holding the slot, and when it got it: the sweep
	// (supervise.go) times it out and logs it as slow from these.
	req        *http.Request
	began      time.Time
	slowLogged bool
}

// pool runs the app processes of one WSGI app in a worker and lends their
// slots to requests. This file has its state and the lending; a process's
// life (start, READY, recycle, kill, exit) is in lifecycle.go, the
// supervision (starting what is missing behind the back-off,
// request_timeout, RSS sampling, close) in supervise.go, and the capture of
// the processes' output in output.go.
type pool struct {
	cfg     Config
	log     zerolog.Logger
	env     []string
	runner  int
	devnull *os.File
	sp      *spawner
	free    chan *slot
	closed  chan struct{}
	kick    chan struct{}

	mu       sync.Mutex
	procs    map[int]*proc // by id, until reaped
	byPID    map[int]*proc
	nextID   int
	zyg      *zygote
	closing  bool
	booting  bool
	bootErr  chan error // the first boot's outcome
	failures int        // boot failures in a row
	lastErr  error
	retryAt  time.Time
	broken   chan struct{}     // closed while nothing is ready after a failed start
	outputs  map[*os.File]bool // pipes being read: stderr and dumps
	wg       sync.WaitGroup
}

// nextLimit is a process's max_requests with its jitter.
func (p *pool) nextLimit() uint64 {
	if p.cfg.MaxRequests <= 0 {
		return 0
	}
	n := p.cfg.MaxRequests
	if p.cfg.MaxRequestsJitter > 0 {
		n += rand.IntN(p.cfg.MaxRequestsJitter + 1)
	}
	return uint64(n)
}

// acquire lends a free slot of a serving process to r, waiting for one as
// long as r's context lasts. Slots come in the order they were freed, so
// the processes share the load. r's time in the process counts from here.
func (p *pool) acquire(r *http.Request) (*slot, error) {
	// A slot free now is the common case: take it without the select
	// below, which locks all four channels (2–3 % of the worker's CPU).
	select {
	case s := <-p.free:
		if p.take(s, r) {
			return s, nil
		}
	default:
	}
	ctx := r.Context()
	for {
		p.mu.Lock()
		broken := p.broken
		p.mu.Unlock()
		select {
		case s := <-p.free:
			if p.take(s, r) {
				return s, nil
			}
		case <-broken:
			p.mu.Lock()
			err := p.lastErr
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", errUnavailable, err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.closed:
			return nil, errClosed
		}
	}
}

// take lends s, just received from free, to r; false when s belongs to a
// process that stopped serving, and is dropped.
func (p *pool) take(s *slot, r *http.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if (s.p.state != ready && s.p.state != recycling) || s.use {
		return false
	}
	s.use = true
	s.seq++
	s.p.busy++
	s.req, s.began, s.slowLogged = r, time.Now(), false
	return true
}

// release gives a slot back after a request. broken means its socket can no
// longer be used (an unreadable frame, or the process went away), so the
// process is killed; why, when not "", is logged.
func (p *pool) release(s *slot, broken bool, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := s.p
	s.use = false
	s.req = nil
	pr.busy--
	pr.requests++
	if broken && pr.state < killing {
		p.killLocked(pr, why, "")
		return
	}
	switch pr.state {
	case ready, recycling:
		if pr.state == ready && pr.limit > 0 && pr.requests >= pr.limit {
			p.recycleLocked(pr, fmt.Sprintf("served %d requests (max_requests)", pr.requests))
		}
		p.free <- s // never blocks: the channel holds every slot there can be
	case draining:
		if pr.busy == 0 {
			p.closeLocked(pr)
		}
	}
}

func (p *pool) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// liveLocked counts the processes that serve or will (starting or ready):
// what the pool keeps at Processes; readyN of them are ready.
func (p *pool) liveLocked() (live, readyN int) {
	for _, pr := range p.procs {
		switch pr.state {
		case starting:
			live++
		case ready:
			live++
			readyN++
		}
	}
	return live, readyN
}

// stats describes the processes for the worker's heartbeat.
func (p *pool) stats() []ipc.AppProcess {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ipc.AppProcess, 0, len(p.procs))
	for _, pr := range p.procs {
		st := pr.state.String()
		if pr.state == ready {
			st = "idle"
			if pr.busy > 0 {
				st = "busy"
			}
		}
		out = append(out, ipc.AppProcess{PID: pr.pid, State: st, Busy: pr.busy, Threads: len(pr.slots),
			Requests: pr.requests, RSS: pr.rss, AgeSeconds: time.Since(pr.start).Seconds()})
	}
	return out
}
