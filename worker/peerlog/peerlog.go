// Package peerlog logs bad input from the peers of a protocol server (a
// front end sending a malformed record, a client hitting the wrong port),
// rate-limited so that a flood of bad connections cannot fill the disk.
package peerlog

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Burst is how many lines a Logger writes per second before it starts
// counting instead.
const Burst = 10

// window is the rate-limit period.
const window = time.Second

// Logger logs bad input from peers, rate-limited so a flood cannot fill the
// disk: at most a burst of lines per second, then one summary line saying how
// many were suppressed. A nil *Logger discards.
//
// The limit is a fixed one-second window starting at the first line. Lines
// past Burst in a window are counted; when the window ends, a timer writes
// the summary ("suppressed": N) even if no further line comes. So at most
// Burst+1 lines are written per second, whatever the peers send. A Logger is
// safe for concurrent use.
type Logger struct {
	log   zerolog.Logger
	proto string

	// Seams for tests.
	now       func() time.Time
	afterFunc func(time.Duration, func())

	mu         sync.Mutex
	start      time.Time // start of the current window
	lines      int       // lines written in the current window
	suppressed int       // lines counted, not written, since the last summary
	armed      bool      // a summary timer is pending for this window
	gen        uint64    // window number, so a late timer from an old window does nothing
}

// New returns a Logger writing to log with the field proto=proto.
func New(log zerolog.Logger, proto string) *Logger {
	return &Logger{
		log:       log,
		proto:     proto,
		now:       time.Now,
		afterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
	}
}

// Bad logs that peer sent bad input, at level warn with the fields proto,
// peer and error=reason, unless the rate limit suppresses it.
func (l *Logger) Bad(peer string, reason error) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.start.IsZero() || now.Sub(l.start) >= window {
		l.summaryLocked()
		l.start = now
		l.lines = 0
		l.armed = false
		l.gen++
	}
	if l.lines >= Burst {
		l.suppressed++
		if !l.armed {
			l.armed = true
			gen := l.gen
			l.afterFunc(l.start.Add(window).Sub(now), func() { l.flush(gen) })
		}
		return
	}
	l.lines++
	l.log.Warn().Str("proto", l.proto).Str("peer", peer).Err(reason).Msg("bad input from peer")
}

// flush is the summary timer of window gen.
func (l *Logger) flush(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen {
		return // a new window has begun and written the summary
	}
	l.armed = false
	l.summaryLocked()
}

// summaryLocked writes the summary line if lines were suppressed.
func (l *Logger) summaryLocked() {
	if l.suppressed == 0 {
		return
	}
	l.log.Warn().Str("proto", l.proto).Int("suppressed", l.suppressed).Msg("bad input from peers: lines suppressed")
	l.suppressed = 0
}
