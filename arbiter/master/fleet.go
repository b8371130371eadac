package master

import (
	"sort"

	"github.com/arbiter-dev/arbiter/ipc"
)

// manage brings the fleet towards what is wanted, after every event:
//
//   - active workers are the current generation's that are neither retiring
//     nor waiting to be recycled; there should be `desired` of them, so
//     missing ones are spawned (behind the boot-failure back-off) and extra
//     ones retired, oldest first;
//   - workers to be replaced (an older generation after HUP, or one that
//     reached max_requests) keep serving until `desired` active workers are
//     ready, and only then are told to drain, so capacity never drops.
func (m *Master) manage() {
	if m.state != running {
		return
	}
	var active, replaced []*proc
	readyActive := 0
	for _, p := range m.workers {
		switch {
		case p.retiring:
		case p.gen == m.gen && !p.recycle:
			active = append(active, p)
			if p.ready() {
				readyActive++
			}
		default:
			replaced = append(replaced, p)
		}
	}
	sort.Slice(active, func(i, j int) bool { return active[i].id < active[j].id })

	for i := len(active); i < m.desired; i++ {
		if m.now().Before(m.nextSpawn) {
			break
		}
		if err := m.spawn(); err != nil {
			m.log.Error().Err(err).Msg("spawn failed")
			m.bootFailed(ExitWorkerBoot)
			break
		}
	}
	if m.state != running { // a spawn failure halted the master
		return
	}
	for i := 0; len(active)-i > m.desired; i++ {
		m.retire(active[i], "worker count lowered")
	}

	if readyActive >= m.desired && len(replaced) > 0 {
		for _, p := range replaced {
			why := "replaced by a newer generation"
			if p.recycle {
				why = "max_requests reached; replacement ready"
			}
			m.retire(p, why)
		}
	}
	if !m.genReady && readyActive >= m.desired && m.desired > 0 {
		m.genReady = true
		m.servingCfg, m.servingGen = m.cfg, m.gen
		m.log.Info().Int("generation", m.gen).Int("workers", readyActive).Msg("generation ready")
	}
}

// retire tells a worker to drain; it gets graceful_timeout before SIGKILL.
func (m *Master) retire(p *proc, why string) {
	if p.retiring {
		return
	}
	p.retiring = true
	p.stopBy = m.now().Add(m.cfg.GracefulTimeout)
	m.log.Info().Int("worker", p.id).Int("worker_pid", p.pid).Int("generation", p.gen).Str("why", why).Msg("retiring worker")
	m.tell(p, ipc.Message{Kind: ipc.KindStop, Graceful: true})
}
