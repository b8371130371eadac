package ipc

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Version is the frame format version written by this build.
const Version = 1

// maxPayload bounds a frame's payload: a few hundred bytes for most
// messages. A heartbeat's entry for a WSGI app process takes 110 to 155
// bytes, so about 390 of them fit in the worst case and 500 commonly: 256,
// the most processes an app may have, always fit; a worker with more
// (several WSGI mounts, or replacements starting beside many recycled
// processes) sends as many as fit (see Send).
const maxPayload = 60000

// Kind says what a message means.
type Kind uint8

// Worker → master.
const (
	// KindReady: the worker serves on every listener.
	KindReady Kind = 1
	// KindHeartbeat: the worker is alive; Stats says how it is doing.
	KindHeartbeat Kind = 2
	// KindRecycle: the worker asks to be replaced (Message.Reason says
	// why). It keeps serving until the master tells it to stop.
	KindRecycle Kind = 3
)

// Reasons a worker gives in a KindRecycle message.
const (
	RecycleMaxRequests    = "max_requests"    // it served its max_requests
	RecycleRequestTimeout = "request_timeout" // a handler did not return after its request_timeout
)

// Master → worker.
const (
	// KindStop: stop. Graceful drains; otherwise close everything now.
	KindStop Kind = 16
	// KindReopenLogs: reopen the log files the worker writes itself.
	KindReopenLogs Kind = 17
)

func (k Kind) String() string {
	switch k {
	case KindReady:
		return "ready"
	case KindHeartbeat:
		return "heartbeat"
	case KindRecycle:
		return "recycle"
	case KindStop:
		return "stop"
	case KindReopenLogs:
		return "reopen-logs"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Stats is what a worker reports about itself in ready and heartbeat messages.
type Stats struct {
	Requests       uint64        `json:"requests"`         // requests served since boot
	InFlight       int           `json:"in_flight"`        // requests being handled now
	OldestInFlight time.Duration `json:"oldest_in_flight"` // age of the oldest of those
	RSS            int64         `json:"rss"`              // resident set size, bytes
	Goroutines     int           `json:"goroutines"`       // runtime.NumGoroutine at the heartbeat
	// Durations is the histogram of how long the requests served since
	// boot took; nil from a worker that keeps none.
	Durations *Histogram `json:"durations,omitempty"`
	// Apps are the worker's app processes (WSGI), when it has any: as many
	// as fit in a frame, in the order given.
	Apps []AppProcess `json:"apps,omitempty"`
	// AppsOmitted is how many app processes Send left out of Apps.
	AppsOmitted int `json:"apps_omitted,omitempty"`
}

// AppProcess is one app process of a worker (a WSGI app's Python process).
type AppProcess struct {
	PID        int     `json:"pid"`
	State      string  `json:"state"` // starting, idle, busy, recycling, draining, killing
	Busy       int     `json:"busy"`  // requests it is answering now
	Threads    int     `json:"threads"`
	Requests   uint64  `json:"requests"` // requests it answered
	RSS        int64   `json:"rss"`      // bytes, sampled every second
	AgeSeconds float64 `json:"age_seconds"`
}

// Message is one frame's content. Fields that do not belong to Kind are zero.
type Message struct {
	Kind     Kind  `json:"-"`
	Stats    Stats `json:"stats,omitzero"`
	Graceful bool  `json:"graceful,omitempty"` // KindStop
	// Reason is why a worker asks to be replaced (KindRecycle):
	// "max_requests" when empty, for frames from older workers.
	Reason string `json:"reason,omitempty"`
}

// ErrVersion is returned for a frame written by an incompatible build.
var ErrVersion = errors.New("ipc: unsupported frame version")

// Writer writes frames; it is safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer on w (a pipe).
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Send writes m as one frame. A message over maxPayload with app processes
// in its stats is sent with as many of them as fit, the first ones, and
// AppsOmitted set to how many are left out; another over maxPayload is an
// error. On a pipe whose reader is gone it returns the write error
// (EPIPE); the caller decides what that means.
func (w *Writer) Send(m Message) error {
	payload, err := encode(m)
	if err != nil {
		return err
	}
	frame := make([]byte, 4+len(payload))
	frame[0] = Version
	frame[1] = byte(m.Kind)
	binary.BigEndian.PutUint16(frame[2:4], uint16(len(payload)))
	copy(frame[4:], payload)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(frame); err != nil {
		return fmt.Errorf("ipc: send %s: %w", m.Kind, err)
	}
	return nil
}

// encode marshals m, cutting its list of app processes to fit maxPayload.
func encode(m Message) ([]byte, error) {
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("ipc: encode %s: %w", m.Kind, err)
	}
	if len(payload) <= maxPayload {
		return payload, nil
	}
	apps := m.Stats.Apps
	// The most entries that fit: lo always fits (none does, unless the rest
	// is too big), hi does not.
	lo, hi := 0, len(apps)
	var fit []byte
	for lo <= hi {
		k := (lo + hi) / 2
		m.Stats.Apps, m.Stats.AppsOmitted = apps[:k], len(apps)-k
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("ipc: encode %s: %w", m.Kind, err)
		}
		if len(b) <= maxPayload {
			fit, lo = b, k+1
		} else {
			hi = k - 1
		}
	}
	if fit == nil {
		return nil, fmt.Errorf("ipc: %s payload of %d bytes is over %d", m.Kind, len(payload), maxPayload)
	}
	return fit, nil
}

// Reader reads frames; it is not safe for concurrent use.
type Reader struct {
	r   *bufio.Reader
	hdr [4]byte
}

// NewReader returns a Reader on r (a pipe).
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 4096)} }

// Read returns the next message. It returns io.EOF when the writer closed the
// pipe between frames, io.ErrUnexpectedEOF when it closed it inside one, and
// ErrVersion or a decode error for a frame it cannot read.
func (r *Reader) Read() (Message, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Message{}, err
	}
	if r.hdr[0] != Version {
		return Message{}, fmt.Errorf("%w %d (want %d)", ErrVersion, r.hdr[0], Version)
	}
	n := int(binary.BigEndian.Uint16(r.hdr[2:4]))
	if n > maxPayload {
		return Message{}, fmt.Errorf("ipc: frame of %d bytes is over %d", n, maxPayload)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r.r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Message{}, err
	}
	m := Message{Kind: Kind(r.hdr[1])}
	if err := json.Unmarshal(payload, &m); err != nil {
		return Message{}, fmt.Errorf("ipc: decode %s: %w", m.Kind, err)
	}
	return m, nil
}
