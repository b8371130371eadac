package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// ControlSocketPath is the control socket's path when the file does not set
// control_socket (docs/operations.md):
//
//   - with a pidfile, next to it: the pidfile's path with a ".pid" suffix
//     replaced by ".ctl", or with ".ctl" appended ("/run/app.pid" →
//     "/run/app.ctl"), unless that is too long for a unix socket (107
//     bytes);
//   - else in a directory of the user's: "/run/arbiter" for root,
//     else "$XDG_RUNTIME_DIR/arbiter", else "/tmp/arbiter-UID"; the file is
//     named after the config file and a hash of its absolute path
//     ("app-1a2b3c4d.ctl", the name cut at 32 bytes), so that masters of
//     different configs do not meet, or "arbiter.ctl" without a config
//     file.
//
// The rule needs only the config, the uid and the environment, so a client
// run as the master's user (`docker exec`, `kubectl exec`) finds the same
// path.
func ControlSocketPath(configPath, pidfile string, getenv func(string) string, uid int) string {
	if p := strings.TrimSuffix(pidfile, ".pid") + ".ctl"; pidfile != "" && len(p) <= maxUnixPath {
		return p
	}
	dir := "/run/arbiter"
	if uid != 0 {
		if x := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
			dir = filepath.Join(x, "arbiter")
		} else {
			dir = "/tmp/arbiter-" + strconv.Itoa(uid)
		}
	}
	name := "arbiter.ctl"
	if configPath != "" {
		sum := sha256.Sum256([]byte(configPath))
		base := strings.TrimSuffix(filepath.Base(configPath), filepath.Ext(configPath))
		if len(base) > 32 {
			base = base[:32]
		}
		name = base + "-" + hex.EncodeToString(sum[:4]) + ".ctl"
	}
	return filepath.Join(dir, name)
}

// validateScaling checks workers_min, workers_max, scale_down_after and the
// control socket's path.
func validateScaling(c *Config, r reporter) {
	if c.ControlSocket != "" {
		if err := checkAddress("unix:" + c.ControlSocket); err != nil {
			r.problem("control_socket", strings.Replace(err.Error(), `address "unix:`, `path "`, 1))
		}
	}
	positive(r, "scale_down_after", c.ScaleDownAfter)
	if c.WorkersMin == 0 && c.WorkersMax == 0 {
		return
	}
	switch {
	case c.WorkersMax == 0:
		r.problem("workers_min", "needs workers_max: the fleet moves between the two")
		return
	case c.WorkersMin == 0:
		c.WorkersMin = 1
	}
	intRange(r, "workers_min", c.WorkersMin, 1, maxWorkers)
	intRange(r, "workers_max", c.WorkersMax, 1, maxWorkers)
	if c.WorkersMin > c.WorkersMax {
		r.problem("workers_min", fmt.Sprintf("must be at most workers_max (%d), got %d", c.WorkersMax, c.WorkersMin))
		return
	}
	if c.Workers < c.WorkersMin || c.Workers > c.WorkersMax {
		r.problem("workers", fmt.Sprintf("must be within workers_min and workers_max (%d–%d), got %d", c.WorkersMin, c.WorkersMax, c.Workers))
	}
}

// Dynamic reports whether the worker count moves between WorkersMin and
// WorkersMax.
func (c *Config) Dynamic() bool { return c.WorkersMax > 0 }

// FindControlSocket returns the control socket of the config file at path
// without validating the rest of it, so that a client finds a master whose
// file has since been edited into one a reload would refuse: only the
// pidfile and control_socket keys are read (relative paths against the
// file's directory), then ControlSocketPath applies. "" means the file
// turns the socket off.
func FindControlSocket(path string, getenv func(string) string, uid int) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrRead, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrRead, err)
	}
	var doc struct {
		Pidfile       string  `toml:"pidfile"`
		ControlSocket *string `toml:"control_socket"`
	}
	if err := toml.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &doc); err != nil {
		return "", Errors{syntaxProblem(path, err)}
	}
	base := filepath.Dir(abs)
	if doc.ControlSocket != nil {
		return resolve(base, *doc.ControlSocket), nil
	}
	return ControlSocketPath(abs, resolve(base, doc.Pidfile), getenv, uid), nil
}
