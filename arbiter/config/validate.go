package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/worker/forwarded"
)

// maxWorkers is the largest number of worker processes a config may ask for.
const maxWorkers = 1024

// maxUnixPath is the longest unix socket path bind(2) accepts on Linux: the
// 108 bytes of sockaddr_un.sun_path, less the terminating NUL.
const maxUnixPath = 107

// addressForms is appended to every message about an address that cannot be
// parsed at all.
const addressForms = `want "host:port" (like "127.0.0.1:8000", "[::1]:8000" or "localhost:8000"), ` +
	`"unix:/path/to/socket", "fd://3" or "systemd:NAME"`

var (
	logLevels  = []string{"trace", "debug", "info", "warn", "error"}
	logFormats = []string{"auto", "json", "console"}
	protocols  = []string{ProtoHTTP, ProtoFastCGI, ProtoSCGI, ProtoUWSGI}
	appTypes   = []string{AppEcho, AppStatic, AppGo, AppCGI, AppWSGI}
)

// reporter receives validate's findings. key is a dotted key path
// ("listen[1].address").
type reporter interface {
	problem(key, msg string)
	// where names the place key was set, for a message that refers to
	// another key: "listen[0].address (line 3)", "an earlier --bind".
	where(key string) string
}

// validate checks every value of a finished Config: ranges, enumerations,
// addresses, that paths are absolute, that a static root is a directory. It
// reports every problem it finds to r.
func validate(c *Config, r reporter) {
	intRange(r, "workers", c.Workers, 1, maxWorkers)
	nonNegative(r, "timeout", c.Timeout)
	nonNegative(r, "request_timeout", c.RequestTimeout)
	nonNegative(r, "slow_request_log", c.SlowRequestLog)
	positive(r, "graceful_timeout", c.GracefulTimeout)
	absPath(r, "pidfile", c.Pidfile)
	intRange(r, "max_requests", c.MaxRequests, 0, math.MaxInt)
	intRange(r, "max_requests_jitter", c.MaxRequestsJitter, 0, math.MaxInt)
	nonNegative(r, "max_worker_lifetime", c.MaxWorkerLifetime)
	nonNegative(r, "max_worker_lifetime_jitter", c.MaxWorkerLifetimeJitter)
	if c.MaxWorkerMemory < 0 {
		r.problem("max_worker_memory", fmt.Sprintf("must be 0 (no limit) or a size, got %d", c.MaxWorkerMemory))
	}
	intRange(r, "max_boot_failures", c.MaxBootFailures, 1, math.MaxInt)
	oneOf(r, "reload_strategy", c.ReloadStrategy, []string{ReloadGeneration, ReloadRolling})
	intRange(r, "reload_batch", c.ReloadBatch, 1, maxWorkers)
	positive(r, "upgrade_timeout", c.UpgradeTimeout)
	intRange(r, "backlog", c.Backlog, 1, 65535)
	positive(r, "keepalive", c.Keepalive)
	intRange(r, "worker_connections", c.WorkerConnections, 1, math.MaxInt)
	nonNegative(r, "read_header_timeout", c.ReadHeaderTimeout)
	nonNegative(r, "read_timeout", c.ReadTimeout)
	nonNegative(r, "write_timeout", c.WriteTimeout)
	intRange(r, "limit_request_line", c.LimitRequestLine, 0, 65535)
	intRange(r, "limit_request_fields", c.LimitRequestFields, 0, 32768)
	intRange(r, "limit_request_field_size", c.LimitRequestFieldSize, 0, 65535)

	for i, e := range c.ForwardedAllowIPs {
		if _, err := forwarded.ParseTrust([]string{e}); err != nil {
			r.problem(fmt.Sprintf("forwarded_allow_ips[%d]", i), err.Error())
		}
	}

	oneOf(r, "log.level", c.Log.Level, logLevels)
	oneOf(r, "log.format", c.Log.Format, logFormats)
	absPath(r, "log.file", c.Log.File)
	if c.Log.AccessLog != "-" {
		absPath(r, "log.access_log", c.Log.AccessLog)
	}
	validateAccessLogFormat(c.Log, r)

	validateProcess(c, r)
	validateScaling(c, r)
	validateListen(c.Listen, r)
	validateApp(&c.App, "app", r)
	validateMounts(c.Mounts, r)
}

func validateListen(ls []Listen, r reporter) {
	if len(ls) == 0 {
		r.problem("listen", "at least one listener is required")
	}
	seen := map[string]string{} // address → key of the first listener with it
	for i, l := range ls {
		key := fmt.Sprintf("listen[%d]", i)
		addr := key + ".address"
		switch err := checkAddress(l.Address); {
		case l.Address == "":
			r.problem(addr, `required, like address = "127.0.0.1:8000"`)
		case err != nil:
			r.problem(addr, err.Error())
		case seen[l.Address] != "":
			r.problem(addr, fmt.Sprintf("%q is already used by %s", l.Address, r.where(seen[l.Address])))
		default:
			seen[l.Address] = addr
		}
		oneOf(r, key+".protocol", l.Protocol, protocols)
		switch {
		case l.Mode > 0o777:
			r.problem(key+".mode", fmt.Sprintf(`must be at most 0o777, got 0o%o; write the mode in octal: 0o660 or "0660"`, l.Mode))
		case l.Mode != 0 && !strings.HasPrefix(l.Address, "unix:"):
			r.problem(key+".mode", "is only valid for unix: addresses")
		}
		validateTLS(l, key, r)
	}
}

func validateApp(a *App, key string, r reporter) {
	oneOf(r, key+".type", a.Type, appTypes)
	if a.Type == AppStatic || a.Type == AppCGI && a.Root != "" {
		switch fi, err := os.Stat(a.Root); {
		case a.Root == "":
			r.problem(key+".root", `required when the type is "static"`)
		case !filepath.IsAbs(a.Root):
			r.problem(key+".root", fmt.Sprintf("must be an absolute path, got %q", a.Root))
		case errors.Is(err, fs.ErrNotExist):
			r.problem(key+".root", fmt.Sprintf("directory %q does not exist", a.Root))
		case err != nil:
			r.problem(key+".root", fmt.Sprintf("cannot use %q: %v", a.Root, errors.Unwrap(err)))
		case !fi.IsDir():
			r.problem(key+".root", fmt.Sprintf("%q is not a directory", a.Root))
		}
	} else {
		absPath(r, key+".root", a.Root)
	}
	for i, name := range a.Index {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			r.problem(fmt.Sprintf("%s.index[%d]", key, i), fmt.Sprintf(`must be a file name without "/", like "index.html", got %q`, name))
		}
	}
	validateCGI(a, key, r)
	validateWSGI(a, key, r)
	validateTimeouts(a, key, r)
}

// checkAddress reports why addr is not a listen address arbiter accepts:
// "host:port" with an IPv4 address, a bracketed IPv6 address or a host
// name and a numeric port 0..65535; "unix:" and an absolute path that fits in
// sockaddr_un; or "fd://N" with N ≥ 3.
func checkAddress(addr string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("invalid address %q: %s", addr, fmt.Sprintf(format, args...))
	}
	switch {
	case strings.HasPrefix(addr, "unix:"):
		p := strings.TrimPrefix(addr, "unix:")
		switch {
		case p == "":
			return bad("the socket path is empty")
		case strings.IndexByte(p, 0) >= 0:
			return bad("the socket path contains a NUL byte")
		case !filepath.IsAbs(p):
			return bad("the socket path must be absolute")
		case len(p) > maxUnixPath:
			return bad("the socket path is %d bytes long; the limit is %d", len(p), maxUnixPath)
		}
		return nil
	case strings.HasPrefix(addr, "systemd:"):
		name := strings.TrimPrefix(addr, "systemd:")
		if name == "" || len(name) > 255 || strings.ContainsAny(name, ": \t\n") {
			return bad("want systemd:NAME with the .socket unit's FileDescriptorName (no colon or space), or systemd:N for the N-th passed socket")
		}
		return nil
	case strings.HasPrefix(addr, "fd://"):
		s := strings.TrimPrefix(addr, "fd://")
		n, err := strconv.Atoi(s)
		if err != nil || !allDigits(s) || n < 3 {
			return bad("want fd://N with N a number of at least 3 (0, 1 and 2 are stdin, stdout and stderr)")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad("%s", addressForms)
	}
	if n, err := strconv.Atoi(port); err != nil || !allDigits(port) || n > 65535 {
		return bad("the port must be a number from 0 to 65535; %s", addressForms)
	}
	bracketed := strings.HasPrefix(addr, "[")
	if host == "" {
		return bad(`the host is empty; use "0.0.0.0:%s" for every IPv4 interface or "[::]:%s" for every IPv6 one`, port, port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() && bracketed {
			return bad("brackets are only for IPv6 addresses; write %s:%s", host, port)
		}
		return nil
	}
	if bracketed {
		return bad("%q is not an IPv6 address", host)
	}
	if !isHostname(host) {
		return bad("%q is neither an IP address nor a host name; %s", host, addressForms)
	}
	return nil
}

// isHostname reports whether s is a DNS name: dot-separated labels of
// letters, digits, '-' and '_' (which some container networks use), none
// empty or longer than 63 bytes or starting or ending with '-', and a last
// label that is not all digits (so "1.2.3" is a bad IP, not a name).
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return !allDigits(labels[len(labels)-1])
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func intRange(r reporter, key string, v, lo, hi int) {
	switch {
	case v < lo:
		r.problem(key, fmt.Sprintf("must be at least %d", lo))
	case v > hi:
		r.problem(key, fmt.Sprintf("must be at most %d", hi))
	}
}

func nonNegative(r reporter, key string, d time.Duration) {
	if d < 0 {
		r.problem(key, fmt.Sprintf("must not be negative, got %s", d))
	}
}

func positive(r reporter, key string, d time.Duration) {
	if d <= 0 {
		r.problem(key, fmt.Sprintf("must be greater than 0s, got %s", d))
	}
}

func absPath(r reporter, key, p string) {
	if p != "" && !filepath.IsAbs(p) {
		r.problem(key, fmt.Sprintf("must be an absolute path, got %q", p))
	}
}

func oneOf(r reporter, key, v string, allowed []string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	r.problem(key, fmt.Sprintf("must be one of %s; got %q", strings.Join(allowed, ", "), v))
}
