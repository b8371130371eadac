package master

import (
	"errors"
	"fmt"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/listeners"
	"github.com/arbiter-dev/arbiter/arbiter/logging"
	"github.com/rs/zerolog"
)

// reload re-reads the config file. An invalid file keeps the running
// generation, logs every problem and returns them. A valid one starts a new
// generation (nil); manage retires the old one once the new one is ready.
func (m *Master) reload() error {
	if m.state != running {
		return errors.New("reload refused: the master is stopping")
	}
	m.notifyErr(m.opt.Notify.Reloading(fmt.Sprintf("reloading: generation %d", m.gen+1)))
	refused := func() { m.notifyErr(m.opt.Notify.Ready("reload refused; " + m.statusLine())) }
	cfg, err := config.Load(m.cfg.Path, m.opt.Overrides)
	if err == nil && m.opt.Validate != nil {
		err = m.opt.Validate(cfg)
	}
	if err != nil {
		var probs config.Errors
		if errors.As(err, &probs) {
			for _, p := range probs {
				m.log.Error().Str("problem", p.String()).Msg("reload refused: config invalid; keeping the running generation")
			}
		} else {
			m.log.Error().Err(err).Msg("reload refused; keeping the running generation")
		}
		refused()
		m.reloadStarted(0, err)
		return fmt.Errorf("reload refused: %w", err)
	}
	keepMasterSettings(cfg, m.cfg, m.log)
	useActivated(cfg, m.opt.Activated)
	ls, err := listeners.Adopt(cfg.Listen, cfg.Backlog, m.open)
	if err == nil {
		err = m.handOverFiles(listeners.Unused(ls, m.open))
	}
	if err != nil {
		m.log.Error().Err(err).Msg("reload refused: cannot bind a new listener; keeping the running generation")
		refused()
		m.reloadStarted(0, err)
		return fmt.Errorf("reload refused: cannot bind a new listener: %w", err)
	}
	for _, l := range listeners.Unused(ls, m.open) {
		m.open = append(m.open, l)
		m.log.Info().Str("address", l.Addr).Str("protocol", l.Spec.Protocol).Msg("listening")
	}
	m.listeners = ls
	m.cfg = cfg
	m.gen++
	m.genReady = false
	m.desired = cfg.Workers
	m.bootFailures = 0
	m.nextSpawn = time.Time{}
	m.log = m.log.Level(logging.ParseLevel(cfg.Log.Level))
	m.base = m.base.Level(logging.ParseLevel(cfg.Log.Level))
	m.log.Info().Int("generation", m.gen).Int("workers", m.desired).Msg("reloading: starting a new generation")
	m.reloadStarted(m.gen, nil)
	return nil
}

// keepMasterSettings carries over what a HUP cannot change in a running
// master (the pidfile, the control socket, the log file and format) and warns when the new file
// asked for a change. Everything else applies: listeners are added and
// removed, and the new generation's workers get the new config.
func keepMasterSettings(next, cur *config.Config, log zerolog.Logger) {
	warn := func(key string) {
		log.Warn().Str("key", key).Msg("HUP does not apply a change of this setting; keeping the current value (restart to change it)")
	}
	if next.Pidfile != cur.Pidfile {
		warn("pidfile")
		next.Pidfile = cur.Pidfile
	}
	if next.ControlSocket != cur.ControlSocket {
		warn("control_socket")
		next.ControlSocket = cur.ControlSocket
	}
	if next.Log.File != cur.Log.File || next.Log.Format != cur.Log.Format {
		warn("log.file/log.format")
		next.Log.File, next.Log.Format = cur.Log.File, cur.Log.Format
	}
}
