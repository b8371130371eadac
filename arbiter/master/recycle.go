package master

import (
	"math/rand/v2"
	"time"

	"github.com/arbiter-dev/arbiter/internal/procfs"
	"github.com/arbiter-dev/arbiter/ipc"
)

// Why a worker retires: the reason label of
// arbiter_worker_retirements_total, the "reason" of the "retiring worker"
// log line, and a worker's "reason" in /status.
const (
	retireReload      = "reload"                  // replaced by a newer generation
	retireAbandoned   = "reload_abandoned"        // its generation failed to boot
	retireScaleDown   = "scale_down"              // TTOU, WINCH: fewer workers wanted
	retireStop        = "stop"                    // the master is stopping
	retireTimeout     = "timeout"                 // silent or never ready: SIGABRT
	retireMaxRequests = ipc.RecycleMaxRequests    // served max_requests
	retireStuck       = ipc.RecycleRequestTimeout // a handler it cannot stop
	retireLifetime    = "max_worker_lifetime"     // older than max_worker_lifetime
	retireMemory      = "max_worker_memory"       // RSS over max_worker_memory
)

// retireReasons lists every reason, in the order /metrics shows them.
var retireReasons = []string{retireReload, retireAbandoned, retireScaleDown, retireStop, retireTimeout,
	retireMaxRequests, retireLifetime, retireMemory, retireStuck}

// recycleMsg is the log message of a worker marked for replacement; its
// "reason" field says why.
const recycleMsg = "worker to be recycled; starting its replacement"

// memoryCheckEvery is how often the master reads each worker's RSS from
// /proc for max_worker_memory.
const memoryCheckEvery = time.Second

// lifetimeEnd is when a worker started at started reaches
// max_worker_lifetime plus its share of jitter; zero when there is no
// limit. Each worker draws its own jitter, so that workers started together
// are not all replaced together.
func (m *Master) lifetimeEnd(started time.Time) time.Time {
	if m.cfg.MaxWorkerLifetime <= 0 {
		return time.Time{}
	}
	d := m.cfg.MaxWorkerLifetime
	if j := m.cfg.MaxWorkerLifetimeJitter; j > 0 {
		d += rand.N(j + 1)
	}
	return started.Add(d)
}

// checkRecycling marks for replacement each ready worker of the current
// generation that is past max_worker_lifetime, or whose RSS (read from
// /proc every memoryCheckEvery) is over max_worker_memory. A marked worker
// keeps serving until its replacement is ready (manage), as with
// max_requests. A worker that is still booting, retiring, already marked,
// or of an older generation (a reload replaces it anyway) is left alone.
func (m *Master) checkRecycling(now time.Time) {
	if m.state != running {
		return
	}
	readMemory := m.cfg.MaxWorkerMemory > 0 && now.Sub(m.memChecked) >= memoryCheckEvery
	if readMemory {
		m.memChecked = now
	}
	for _, p := range m.workers {
		if !p.ready() || p.retiring || p.recycle != "" || p.gen != m.gen {
			continue
		}
		switch {
		case !p.lifeEnd.IsZero() && now.After(p.lifeEnd):
			m.log.Info().Int("worker", p.id).Int("worker_pid", p.pid).Dur("age", now.Sub(p.started)).
				Dur("max_worker_lifetime", m.cfg.MaxWorkerLifetime).Str("reason", retireLifetime).
				Msg(recycleMsg)
			p.recycle = retireLifetime
		case readMemory:
			rss := procfs.RSS(p.pid)
			if rss > m.cfg.MaxWorkerMemory {
				m.log.Info().Int("worker", p.id).Int("worker_pid", p.pid).Int64("rss", rss).
					Int64("max_worker_memory", m.cfg.MaxWorkerMemory).Str("reason", retireMemory).
					Msg(recycleMsg)
				p.recycle = retireMemory
			}
		}
	}
}

// recycleRequested handles a worker's own KindRecycle.
func (m *Master) recycleRequested(p *proc, msg ipc.Message) {
	if p.recycle != "" || p.retiring {
		return
	}
	p.recycle = msg.Reason
	if p.recycle == "" {
		p.recycle = retireMaxRequests
	}
	ev := m.log.Info()
	if p.recycle != retireMaxRequests {
		ev = m.log.Warn()
	}
	ev.Int("worker", p.id).Int("worker_pid", p.pid).Uint64("requests", msg.Stats.Requests).
		Str("reason", p.recycle).Msg(recycleMsg)
}

// countRetirement records why p is told to stop, and adds one to the
// retirements by that reason.
func (m *Master) countRetirement(p *proc, reason string) {
	p.stopReason = reason
	m.retirements[reason]++
}
