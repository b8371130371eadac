package master

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/ipc"
)

// Snapshot is the fleet as the status server shows it. The loop publishes a
// fresh one after every event; the server only reads.
type Snapshot struct {
	PID           int    `json:"pid"`
	Generation    int    `json:"generation"`
	Desired       int    `json:"workers_desired"`
	State         string `json:"state"` // running, stopping
	Ready         bool   `json:"ready"` // running, with a ready worker
	Upgrading     int    `json:"upgrading,omitempty"`
	RequestsTotal uint64 `json:"requests_total"`
	InFlight      int    `json:"in_flight"`
	Spawned       int    `json:"workers_spawned_total"`
	BootFailures  int    `json:"boot_failures_total"`
	Goroutines    int    `json:"goroutines"` // the master's own
	// Retirements counts the workers told to stop, by reason (reload,
	// max_requests, max_worker_lifetime, max_worker_memory, request_timeout,
	// scale_down, timeout, stop, reload_abandoned).
	Retirements map[string]uint64 `json:"retirements_total"`
	// Durations is the request-duration histogram of every worker the
	// master started, those that exited included (as of their last
	// heartbeat), so that it never goes down.
	Durations ipc.Histogram  `json:"request_durations"`
	Workers   []WorkerStatus `json:"workers"`
	At        time.Time      `json:"at"`

	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	// WorkersMin and WorkersMax are the dynamic fleet's bounds; 0 for a
	// fixed fleet.
	WorkersMin int               `json:"workers_min,omitempty"`
	WorkersMax int               `json:"workers_max,omitempty"`
	LastReload *ReloadStatus     `json:"last_reload,omitempty"` // nil before the first
	Listeners  []ListenerStatus  `json:"listeners"`
	Scaling    []ScalingDecision `json:"scaling_decisions,omitempty"`
	// ControlSocket is the path the master's control socket was bound to;
	// "" when it has none.
	ControlSocket string `json:"control_socket,omitempty"`
}

// ListenerStatus is one listener in a Snapshot, with its accept queue as
// sampled at the last tick (every 100 ms). AcceptQueue and Backlog are nil
// for a unix socket, whose queue Linux does not report this way.
type ListenerStatus struct {
	Address     string `json:"address"`
	Protocol    string `json:"protocol"`
	Name        string `json:"name,omitempty"`
	AcceptQueue *int   `json:"accept_queue"`
	Backlog     *int   `json:"backlog"`
}

func (l ListenerStatus) label() string {
	if l.Name != "" {
		return l.Name
	}
	return l.Address
}

// WorkerStatus is one worker in a Snapshot.
type WorkerStatus struct {
	ID         int    `json:"id"`
	PID        int    `json:"pid"`
	Generation int    `json:"generation"`
	State      string `json:"state"` // booting, ready, retiring
	// Reason is why the worker was told to stop (a retirement reason), or
	// why it is to be replaced once its replacement is ready (max_requests,
	// max_worker_lifetime, max_worker_memory); "" otherwise.
	Reason         string  `json:"reason,omitempty"`
	AgeSeconds     float64 `json:"age_seconds"`
	Requests       uint64  `json:"requests"`
	InFlight       int     `json:"in_flight"`
	OldestInFlight float64 `json:"oldest_in_flight_seconds"`
	RSS            int64   `json:"rss_bytes"`
	Goroutines     int     `json:"goroutines"` // as of its last heartbeat
	// Apps are the worker's app processes (a WSGI app's), as of its last
	// heartbeat.
	Apps []ipc.AppProcess `json:"app_processes,omitempty"`
	// AppsOmitted is how many more app processes the worker has than its
	// heartbeat could list (a frame holds a few hundred).
	AppsOmitted int `json:"app_processes_omitted,omitempty"`
	// LastHeartbeatSeconds is the time since the worker's last message.
	LastHeartbeatSeconds float64 `json:"last_heartbeat_seconds"`
}

func (m *Master) publish() {
	now := m.now()
	s := &Snapshot{PID: os.Getpid(), Generation: m.gen, Desired: m.desired, State: "running",
		RequestsTotal: m.requestsDone, Spawned: m.nextID, BootFailures: m.bootFailuresTotal,
		Goroutines: runtime.NumGoroutine(), At: now, Retirements: map[string]uint64{},
		StartedAt: m.ctl.started, UptimeSeconds: now.Sub(m.ctl.started).Seconds(),
		WorkersMin: m.cfg.WorkersMin, WorkersMax: m.cfg.WorkersMax,
		Scaling: m.scale.snapshot(), Listeners: []ListenerStatus{}}
	for _, r := range retireReasons {
		s.Retirements[r] = m.retirements[r]
	}
	s.Durations.Add(&m.durationsDone)
	if m.ctl.srv != nil {
		s.ControlSocket = m.ctl.srv.Path()
	}
	if m.ctl.reload != nil {
		r := *m.ctl.reload // the loop goes on changing its own
		s.LastReload = &r
	}
	for _, q := range m.scale.queues {
		l := ListenerStatus{Address: q.Address, Protocol: q.Protocol, Name: q.Name}
		if q.TCP {
			l.AcceptQueue, l.Backlog = &q.Queued, &q.Backlog
		}
		s.Listeners = append(s.Listeners, l)
	}
	if m.state != running {
		s.State = "stopping"
	}
	if m.upgrade != nil {
		s.Upgrading = m.upgrade.pid
	}
	for _, p := range m.workers {
		w := WorkerStatus{ID: p.id, PID: p.pid, Generation: p.gen, State: "booting",
			AgeSeconds: now.Sub(p.started).Seconds(), Requests: p.stats.Requests, InFlight: p.stats.InFlight,
			OldestInFlight: p.stats.OldestInFlight.Seconds(), Reason: cmp.Or(p.stopReason, p.recycle), RSS: p.stats.RSS, Goroutines: p.stats.Goroutines, Apps: p.stats.Apps, AppsOmitted: p.stats.AppsOmitted,
			LastHeartbeatSeconds: now.Sub(p.lastSeen).Seconds()}
		switch {
		case p.retiring:
			w.State = "retiring"
		case p.ready():
			w.State = "ready"
			s.Ready = s.State == "running"
		}
		s.RequestsTotal += p.stats.Requests
		s.Durations.Add(p.stats.Durations)
		s.InFlight += p.stats.InFlight
		s.Workers = append(s.Workers, w)
	}
	m.snapshot.Store(s)
}

// startStatus serves the status endpoints on address until the master
// exits. A TCP address is bound with SO_REUSEPORT and a unix socket file is
// replaced, so that a master started by USR2 can serve it while the old
// one still does.
func (m *Master) startStatus(address string) (func(), error) {
	var l net.Listener
	var err error
	if path, ok := strings.CutPrefix(address, "unix:"); ok {
		_ = os.Remove(path)
		l, err = net.Listen("unix", path)
	} else {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}}
		l, err = lc.Listen(context.Background(), "tcp", address)
	}
	if err != nil {
		return nil, fmt.Errorf("status server: %w", err)
	}
	srv := &http.Server{Handler: m.statusHandler(), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error().Err(err).Msg("status server stopped")
		}
	}()
	m.log.Info().Str("address", l.Addr().String()).Msg("status server listening")
	return func() { srv.Close() }, nil
}

// statusHandler serves:
//
//	/healthz  200 while the master's loop runs (it publishes at least every
//	          100 ms; a snapshot older than 5 s means the loop is stuck): liveness
//	/readyz   200 while running with at least one ready worker, 503 while
//	          starting, stopping, or with no worker ready: readiness
//	/status   the Snapshot as JSON
//	/metrics  Prometheus text
func (m *Master) statusHandler() http.Handler {
	mux := http.NewServeMux()
	snap := func() *Snapshot {
		if s := m.snapshot.Load(); s != nil {
			return s
		}
		return &Snapshot{State: "starting"}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s := snap(); time.Since(s.At) > 5*time.Second {
			http.Error(w, "master loop not responding", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		s := snap()
		if !s.Ready {
			http.Error(w, "not ready: "+s.State, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(snap())
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		writeMetrics(w, snap())
	})
	return mux
}

func writeMetrics(w http.ResponseWriter, s *Snapshot) {
	states := map[string]int{"booting": 0, "ready": 0, "retiring": 0}
	for _, wk := range s.Workers {
		states[wk.State]++
	}
	family(w, "Workers by state.", "gauge", "arbiter_workers")
	for _, st := range []string{"booting", "ready", "retiring"} {
		fmt.Fprintf(w, "arbiter_workers{state=%q} %d\n", st, states[st])
	}
	family(w, "Workers wanted (workers, TTIN/TTOU).", "gauge", "arbiter_workers_desired")
	fmt.Fprintf(w, "arbiter_workers_desired %d\n", s.Desired)
	family(w, "Config generation (HUP increments it).", "gauge", "arbiter_generation")
	fmt.Fprintf(w, "arbiter_generation %d\n", s.Generation)
	family(w, "Requests served by the fleet since the master started.", "counter", "arbiter_requests_total")
	fmt.Fprintf(w, "arbiter_requests_total %d\n", s.RequestsTotal)
	family(w, "Requests being handled now.", "gauge", "arbiter_requests_in_flight")
	fmt.Fprintf(w, "arbiter_requests_in_flight %d\n", s.InFlight)
	family(w, "Workers started since the master started.", "counter", "arbiter_workers_spawned_total")
	fmt.Fprintf(w, "arbiter_workers_spawned_total %d\n", s.Spawned)
	family(w, "Workers that failed to boot.", "counter", "arbiter_boot_failures_total")
	fmt.Fprintf(w, "arbiter_boot_failures_total %d\n", s.BootFailures)
	family(w, "Workers told to stop, by reason.", "counter", "arbiter_worker_retirements_total")
	for _, r := range retireReasons {
		fmt.Fprintf(w, "arbiter_worker_retirements_total{reason=%q} %d\n", r, s.Retirements[r])
	}
	perWorker(w, s, "Resident memory of each worker.", "gauge", "arbiter_worker_rss_bytes", func(wk WorkerStatus) any { return wk.RSS })
	perWorker(w, s, "Goroutines of each worker, as of its last heartbeat.", "gauge", "arbiter_worker_goroutines", func(wk WorkerStatus) any { return wk.Goroutines })
	family(w, "Goroutines of the master.", "gauge", "arbiter_master_goroutines")
	fmt.Fprintf(w, "arbiter_master_goroutines %d\n", s.Goroutines)
	perWorker(w, s, "Age of each worker's oldest request in flight.", "gauge", "arbiter_worker_oldest_request_seconds", func(wk WorkerStatus) any { return wk.OldestInFlight })
	writeRequestMetrics(w, s)
	writeAppMetrics(w, s)
	writeScaleMetrics(w, s)
}

// writeAppMetrics describes the workers' app processes (WSGI), when there
// are any.
func writeAppMetrics(w http.ResponseWriter, s *Snapshot) {
	var some bool
	states := map[string]int{}
	for _, wk := range s.Workers {
		for _, a := range wk.Apps {
			some = true
			states[a.State]++
		}
	}
	if !some {
		return
	}
	family(w, "App processes by state.", "gauge", "arbiter_app_processes")
	for _, st := range []string{"starting", "idle", "busy", "recycling", "draining", "killing"} {
		fmt.Fprintf(w, "arbiter_app_processes{state=%q} %d\n", st, states[st])
	}
	perApp(w, s, "Requests each app process is answering now.", "gauge", "arbiter_app_process_busy", func(a ipc.AppProcess) any { return a.Busy })
	perApp(w, s, "Requests each app process has answered.", "counter", "arbiter_app_process_requests_total", func(a ipc.AppProcess) any { return a.Requests })
	perApp(w, s, "Resident memory of each app process.", "gauge", "arbiter_app_process_rss_bytes", func(a ipc.AppProcess) any { return a.RSS })
}
