package master

import (
	"sort"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/listeners"

	"github.com/arbiter-dev/arbiter/ipc"
)

// manage brings the fleet towards what is wanted, after every event:
//
//   - active workers are the current generation's that are neither retiring
//     nor waiting to be recycled; there should be `desired` of them, so
//     missing ones are spawned (behind the boot-failure back-off) and extra
//     ones retired, oldest first;
//   - workers to be replaced (an older generation after HUP, or one that
//     reached max_requests) keep serving until they are no longer needed,
//     so capacity never drops. With reload_strategy "generation" they are
//     all retired once `desired` active workers are ready. With "rolling"
//     (uWSGI's chain reload), at most reload_batch workers are in
//     transition at a time (new ones booting, replaced ones draining): an
//     old worker retires each time a new one is ready, and the next new
//     one starts when the retired one has exited.
func (m *Master) manage() {
	if m.state != running {
		return
	}
	var active, replaced []*proc
	readyActive, draining := 0, 0
	for _, p := range m.workers {
		switch {
		case p.retiring:
			if p.gen < m.gen || p.recycle != "" {
				draining++
			}
		case p.gen == m.gen && p.recycle == "":
			active = append(active, p)
			if p.ready() {
				readyActive++
			}
		default:
			replaced = append(replaced, p)
		}
	}
	byAge := func(ps []*proc) {
		sort.Slice(ps, func(i, j int) bool { return ps[i].id < ps[j].id })
	}
	byAge(active)
	byAge(replaced)
	rolling := m.cfg.ReloadStrategy == config.ReloadRolling && len(replaced)+draining > 0

	// Retire replaced workers that are no longer needed, oldest first.
	retire := 0
	switch {
	case rolling:
		// Keep at least `desired` ready workers across both generations.
		serving := readyActive
		for _, p := range replaced {
			if p.ready() {
				serving++
			}
		}
		retire = min(len(replaced), serving-m.desired)
	case readyActive >= m.desired:
		retire = len(replaced)
	}
	for _, p := range replaced[:max(retire, 0)] {
		why := retireReload
		if p.recycle != "" {
			why = p.recycle
		}
		m.retire(p, why)
		draining++
	}

	// Spawn what is missing; while rolling, at most reload_batch workers
	// are in transition (new ones booting, replaced ones draining).
	spawnTo := m.desired
	if rolling {
		spawnTo = min(m.desired, readyActive+max(0, m.cfg.ReloadBatch-draining))
	}
	for i := len(active); i < spawnTo; i++ {
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

	// TTOU, WINCH: retire the oldest active workers beyond `desired`.
	for i := 0; len(active)-i > m.desired; i++ {
		m.retire(active[i], retireScaleDown)
	}

	if !m.genReady && readyActive >= m.desired && m.desired > 0 {
		m.genReady = true
		m.servingCfg, m.servingGen, m.servingLs = m.cfg, m.gen, m.listeners
		m.closeStaleListeners()
		m.log.Info().Int("generation", m.gen).Int("workers", readyActive).Msg("generation ready")
		m.tellOldMaster()
		m.notifyGenerationReady()
	}
}

// closeStaleListeners closes the listeners a reload removed, once no
// generation that could come back (a rollback) needs them. Old workers keep
// their own copies until they retire.
//
// Sockets from systemd belong to systemd: they stay open (and keep being
// handed over on USR2), so a later reload can name them again.
func (m *Master) closeStaleListeners() {
	keep := append([]*listeners.Listener(nil), m.listeners...)
	for _, l := range listeners.Unused(m.open, m.listeners) {
		if l.Activated() {
			keep = append(keep, l)
			continue
		}
		m.log.Info().Str("address", l.Addr).Msg("listener closed: no longer in the config")
		l.Close()
	}
	m.open = keep
}

// retire tells a worker to drain; it gets graceful_timeout before SIGKILL.
// reason is one of the retire* constants; it is logged and counted.
func (m *Master) retire(p *proc, reason string) {
	if p.retiring {
		return
	}
	p.retiring = true
	p.stopBy = m.now().Add(m.cfg.GracefulTimeout)
	m.countRetirement(p, reason)
	m.log.Info().Int("worker", p.id).Int("worker_pid", p.pid).Int("generation", p.gen).Str("reason", reason).Msg("retiring worker")
	m.tell(p, ipc.Message{Kind: ipc.KindStop, Graceful: true})
}
