package master

import (
	"fmt"
	"time"
)

// The master's systemd notifications (docs/deploy-systemd.md):
//
//   - READY=1 once the first generation is ready, not before: gunicorn's
//     users asked for exactly this;
//   - RELOADING=1 (with MONOTONIC_USEC) on HUP, and READY=1 when the new
//     generation is ready or at once when the reload is refused, so that
//     `systemctl reload` of a Type=notify-reload unit always finishes;
//   - STOPPING=1 when a stop begins;
//   - MAINPID=<new> from the old master at a USR2 hand-off, before it
//     exits, so systemd follows the new master instead of stopping the unit;
//   - STATUS= with the fleet's numbers, at most every statusEvery;
//   - WATCHDOG=1 every half WATCHDOG_USEC while the fleet is healthy: some
//     worker is ready, or none is wanted (WINCH).
const statusEvery = 5 * time.Second

func (m *Master) notifyErr(err error) {
	if err != nil && !m.notifyFailed {
		m.notifyFailed = true
		m.log.Warn().Err(err).Msg("sd_notify failed; later failures are not logged")
	}
}

func (m *Master) statusLine() string {
	ready, reqs := 0, m.requestsDone
	for _, p := range m.workers {
		if p.ready() && !p.retiring {
			ready++
		}
		reqs += p.stats.Requests
	}
	return fmt.Sprintf("generation %d: %d/%d workers ready, %d requests served", m.gen, ready, m.desired, reqs)
}

// notifyGenerationReady runs when a generation has all its workers ready.
func (m *Master) notifyGenerationReady() {
	m.notifyErr(m.opt.Notify.Ready(m.statusLine()))
}

func (m *Master) notifyTick(now time.Time) {
	if !m.opt.Notify.Enabled() {
		return
	}
	if now.Sub(m.lastStatus) >= statusEvery {
		m.lastStatus = now
		if line := m.statusLine(); line != m.lastStatusLine {
			m.lastStatusLine = line
			m.notifyErr(m.opt.Notify.Status(line))
		}
	}
	if m.watchdog > 0 && now.Sub(m.lastWatchdog) >= m.watchdog && m.healthy() {
		m.lastWatchdog = now
		m.notifyErr(m.opt.Notify.Watchdog())
	}
}

func (m *Master) healthy() bool {
	if m.state != running {
		return false
	}
	if m.desired == 0 {
		return true
	}
	for _, p := range m.workers {
		if p.ready() && !p.retiring {
			return true
		}
	}
	return false
}
