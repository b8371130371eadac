package master

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/listeners"
)

// Reasons of scaling decisions, as logged and as the reason label of
// arbiter_scaling_decisions_total.
const (
	reasonAcceptQueue = "accept_queue" // a listener's accept queue is not empty
	reasonAllBusy     = "all_busy"     // the requests in flight fill every ready worker's capacity
	reasonIdle        = "idle"         // the load fitted in one worker less for scale_down_after
	reasonCommand     = "command"      // arbiter scale, TTIN, TTOU
)

// scaleInput is what the autoscaler looks at, sampled every tick.
type scaleInput struct {
	Now      time.Time
	Desired  int
	Min, Max int
	Settled  bool // no reload, no booting worker, no upgrade: the fleet is what was asked
	Ready    int  // ready active workers of the current generation
	InFlight int  // requests in flight on them, as of their last heartbeats
	Capacity int  // requests one worker runs at once (workerCapacity)
	Queued   int  // connections waiting in the TCP listeners' accept queues
	// LastBusy is when the fleet was last not quiet; LastChange when the
	// wanted count last changed.
	LastBusy, LastChange time.Time
	ScaleDownAfter       time.Duration // quiet time before one worker less
}

// scaleDecision is one worker more (+1), less (-1) or none (0), and why.
type scaleDecision struct {
	Delta  int
	Reason string
}

// loaded reports a scale-up sign: a connection waits in an accept queue
// (the workers do not accept as fast as clients connect), or the requests
// in flight fill the ready workers' capacity. The sum counts, not each
// worker: connections do not spread evenly (a keep-alive client stays
// with the worker that accepted it), and a fleet with one worker idle and
// the others over capacity needs more workers for its new connections.
func (in scaleInput) loaded() (bool, string) {
	switch {
	case in.Queued > 0:
		return true, reasonAcceptQueue
	case in.Ready > 0 && in.InFlight >= in.Capacity*in.Ready:
		return true, reasonAllBusy
	}
	return false, ""
}

// quiet reports whether the load fits in one worker less: nothing queued,
// and the requests in flight within the capacity of Ready-1 workers.
func (in scaleInput) quiet() bool {
	return in.Queued == 0 && in.InFlight <= in.Capacity*(in.Ready-1)
}

// decideScale is the autoscaler's rule (a pure function; scale_test.go
// has its table). Nothing moves while the fleet is not settled: a worker
// added for a queue needs to boot before the queue can say whether it was
// enough. Otherwise: one worker more on a scale-up sign, below Max; one
// less, above Min, once the fleet has been quiet, with no change of the
// count, for ScaleDownAfter. Each step restarts the wait, so the fleet
// shrinks by one per ScaleDownAfter.
func decideScale(in scaleInput) scaleDecision {
	if in.Max == 0 || !in.Settled || in.Desired == 0 { // fixed, moving, or stopped by WINCH
		return scaleDecision{}
	}
	if up, why := in.loaded(); up {
		if in.Desired < in.Max {
			return scaleDecision{+1, why}
		}
		return scaleDecision{}
	}
	since := in.LastChange
	if in.LastBusy.After(since) {
		since = in.LastBusy
	}
	if in.Desired > in.Min && in.quiet() && in.Now.Sub(since) >= in.ScaleDownAfter {
		return scaleDecision{-1, reasonIdle}
	}
	return scaleDecision{}
}

// scaler is the autoscaler's state, owned by the loop.
type scaler struct {
	queues     []listenerQueue
	lastBusy   time.Time // the last tick that was not quiet
	lastChange time.Time
	decisions  map[[2]string]uint64 // {direction, reason} → count
}

// listenerQueue is one listener's accept queue, sampled every tick.
type listenerQueue struct {
	Address  string
	Name     string
	Protocol string
	TCP      bool
	Queued   int // connections waiting to be accepted (tcpi_unacked)
	Backlog  int // the queue's limit (tcpi_sacked)
}

// acceptQueue reads a listening socket's accept queue: for a LISTEN TCP
// socket Linux reports the current queue length as tcpi_unacked and its
// limit as tcpi_sacked. ok is false for a socket that is not TCP (unix
// sockets report no queue this way).
func acceptQueue(fd int) (queued, backlog int, ok bool) {
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || dom != unix.AF_INET && dom != unix.AF_INET6 {
		return 0, 0, false
	}
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, 0, false
	}
	return int(ti.Unacked), int(ti.Sacked), true
}

func sampleQueues(ls []*listeners.Listener) []listenerQueue {
	out := make([]listenerQueue, 0, len(ls))
	for _, l := range ls {
		q := listenerQueue{Address: l.Addr, Name: l.Spec.Name, Protocol: l.Spec.Protocol}
		q.Queued, q.Backlog, q.TCP = acceptQueue(l.FD)
		out = append(out, q)
	}
	return out
}

// workerCapacity is how many requests at once make a worker busy: a WSGI
// worker's app processes × threads, a CGI worker's max_scripts, else
// (Go, static, echo: goroutine per connection) worker_connections, which
// such a worker reaches only when it stops accepting; for those the accept
// queue is the sign that counts.
func workerCapacity(cfg *config.Config) int {
	switch cfg.App.Type {
	case config.AppWSGI:
		return max(1, cfg.App.Processes*max(1, cfg.App.Threads))
	case config.AppCGI:
		return max(1, cfg.App.MaxScripts)
	}
	return max(1, cfg.WorkerConnections)
}

// scaleTick samples the accept queues and, for a dynamic fleet, applies
// decideScale. It runs on the loop's ticker.
func (m *Master) scaleTick() {
	now := m.now()
	m.scale.queues = sampleQueues(m.listeners)
	if m.scale.lastChange.IsZero() {
		m.scale.lastChange = now
	}
	in := scaleInput{Now: now, Desired: m.desired, Min: m.cfg.WorkersMin, Max: m.cfg.WorkersMax,
		Capacity: workerCapacity(m.cfg), LastChange: m.scale.lastChange, ScaleDownAfter: m.cfg.ScaleDownAfter,
		Settled: m.state == running && m.genReady && m.upgrade == nil}
	active := 0
	for _, p := range m.workers {
		if p.retiring || p.gen != m.gen || p.recycle != "" {
			if p.gen != m.gen && !p.retiring {
				in.Settled = false // a reload is under way
			}
			continue
		}
		active++
		if p.ready() {
			in.Ready++
			in.InFlight += p.stats.InFlight
		}
	}
	if in.Ready != active || active != m.desired {
		in.Settled = false
	}
	for _, q := range m.scale.queues {
		in.Queued += q.Queued
	}
	if !in.quiet() {
		m.scale.lastBusy = now
	}
	in.LastBusy = m.scale.lastBusy
	d := decideScale(in)
	if d.Delta == 0 {
		return
	}
	m.setDesired(m.desired+d.Delta, d.Reason)
	m.log.Info().Int("workers", m.desired).Int("ready", in.Ready).Int("in_flight", in.InFlight).Int("capacity", in.Capacity*in.Ready).Int("queued", in.Queued).
		Str("reason", d.Reason).Msg(map[bool]string{true: "scale up", false: "scale down"}[d.Delta > 0])
}

// bounds are the worker counts TTIN, TTOU and `arbiter scale` may set:
// workers_min to workers_max for a dynamic fleet, else 1 to 1024.
func (m *Master) bounds() (lo, hi int) {
	if m.cfg.Dynamic() {
		return m.cfg.WorkersMin, m.cfg.WorkersMax
	}
	return 1, 1024
}

// setDesired changes the wanted count, counts the decision, and restarts
// the quiet period.
func (m *Master) setDesired(n int, reason string) {
	dir := "up"
	if n < m.desired {
		dir = "down"
	}
	if m.scale.decisions == nil {
		m.scale.decisions = map[[2]string]uint64{}
	}
	m.scale.decisions[[2]string{dir, reason}]++
	m.desired = n
	m.scale.lastChange = m.now()
}

// scaleBySignal is TTIN (+1) and TTOU (-1): a step that leaves the bounds
// is refused and logged; one towards them (TTIN after WINCH) is taken.
func (m *Master) scaleBySignal(delta int) {
	if m.state != running {
		return
	}
	lo, hi := m.bounds()
	n := m.desired + delta
	if delta > 0 && n > hi || delta < 0 && n < lo {
		m.log.Warn().Int("workers", m.desired).Int("min", lo).Int("max", hi).Msg("worker count not changed: at its bound")
		return
	}
	m.setDesired(n, reasonCommand)
	m.log.Info().Int("workers", m.desired).Msg("worker count changed")
}

// scaleTo checks n against the bounds and sets it; the error says why not.
func (m *Master) scaleTo(n int) error {
	lo, hi := m.bounds()
	switch {
	case m.state != running:
		return fmt.Errorf("the master is stopping")
	case n < lo:
		return fmt.Errorf("%d workers is below the minimum %d%s", n, lo, boundsNote(m.cfg))
	case n > hi:
		return fmt.Errorf("%d workers is above the maximum %d%s", n, hi, boundsNote(m.cfg))
	}
	if n != m.desired {
		m.setDesired(n, reasonCommand)
		m.log.Info().Int("workers", m.desired).Msg("worker count changed")
	}
	return nil
}

func boundsNote(cfg *config.Config) string {
	if cfg.Dynamic() {
		return " (workers_min..workers_max)"
	}
	return ""
}

// ScalingDecision is one (direction, reason) count in a Snapshot.
type ScalingDecision struct {
	Direction string `json:"direction"`
	Reason    string `json:"reason"`
	Count     uint64 `json:"count"`
}

func (s *scaler) snapshot() []ScalingDecision {
	var out []ScalingDecision
	for k, n := range s.decisions {
		out = append(out, ScalingDecision{Direction: k[0], Reason: k[1], Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Direction != out[j].Direction {
			return out[i].Direction < out[j].Direction
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// writeScaleMetrics adds the accept queues and the scaling decisions.
func writeScaleMetrics(w http.ResponseWriter, s *Snapshot) {
	family(w, "Connections waiting in a TCP listener's accept queue.", "gauge", "arbiter_listener_accept_queue")
	for _, l := range s.Listeners {
		if l.AcceptQueue != nil {
			fmt.Fprintf(w, "arbiter_listener_accept_queue{listener=%q} %d\n", l.label(), *l.AcceptQueue)
		}
	}
	family(w, "The accept queue's limit (the listen backlog as the kernel applies it).", "gauge", "arbiter_listener_backlog")
	for _, l := range s.Listeners {
		if l.Backlog != nil {
			fmt.Fprintf(w, "arbiter_listener_backlog{listener=%q} %d\n", l.label(), *l.Backlog)
		}
	}
	family(w, "Changes of the wanted worker count, by direction and reason.", "counter", "arbiter_scaling_decisions_total")
	for _, d := range s.Scaling {
		fmt.Fprintf(w, "arbiter_scaling_decisions_total{direction=%q,reason=%q} %d\n", d.Direction, d.Reason, d.Count)
	}
}
