// Package config reads and validates arbiter's TOML configuration.
//
// A Config is what the master runs with and what it hands, serialized, to
// every worker it spawns: a worker never reads the file itself, so a file
// edited between the master's read and a worker's boot cannot split a fleet.
// Load reports every problem it finds, each naming file:line:col and the key.
package config

import (
	"time"
)

// Protocols a listener can speak.
const (
	ProtoHTTP    = "http"
	ProtoFastCGI = "fastcgi"
	ProtoSCGI    = "scgi"
	ProtoUWSGI   = "uwsgi"
)

// Reload strategies (reload_strategy).
const (
	// ReloadGeneration starts the whole new generation, then retires the
	// old one once every new worker is ready.
	ReloadGeneration = "generation"
	// ReloadRolling replaces reload_batch workers at a time, each new one
	// ready before an old one stops accepting.
	ReloadRolling = "rolling"
)

// App types.
const (
	AppEcho   = "echo"   // built-in diagnostic app
	AppStatic = "static" // a directory of files
	AppGo     = "go"     // the http.Handler compiled into the binary (library mode)
	AppCGI    = "cgi"    // CGI programs (RFC 3875): one script, or a directory of them
	AppWSGI   = "wsgi"   // a Python WSGI app (PEP 3333) in app processes of each worker
)

// Config is the whole, validated configuration. Durations are already parsed.
// The JSON form is how the master passes it to workers.
type Config struct {
	// Path is the file the config came from ("" when built from defaults only).
	Path string `json:"path"`

	Workers           int           `json:"workers"`
	Timeout           time.Duration `json:"timeout"`
	GracefulTimeout   time.Duration `json:"graceful_timeout"`
	Pidfile           string        `json:"pidfile"`
	MaxRequests       int           `json:"max_requests"`
	MaxRequestsJitter int           `json:"max_requests_jitter"`
	// Recycling by age and memory (the master's side; max_requests is the
	// worker's): 0 = never.
	MaxWorkerLifetime       time.Duration `json:"max_worker_lifetime"`
	MaxWorkerLifetimeJitter time.Duration `json:"max_worker_lifetime_jitter"`
	MaxWorkerMemory         int64         `json:"max_worker_memory"` // RSS, bytes
	MaxBootFailures         int           `json:"max_boot_failures"`
	ReloadStrategy          string        `json:"reload_strategy"` // generation | rolling
	ReloadBatch             int           `json:"reload_batch"`    // rolling: workers replaced at a time
	UpgradeTimeout          time.Duration `json:"upgrade_timeout"` // USR2: how long the new master may take to be ready

	// Dynamic worker count (docs/config.md): WorkersMax > 0 turns it on;
	// the fleet then moves between WorkersMin and WorkersMax, starting at
	// Workers. Both are 0 for a fixed fleet of Workers.
	WorkersMin     int           `json:"workers_min"`
	WorkersMax     int           `json:"workers_max"`
	ScaleDownAfter time.Duration `json:"scale_down_after"` // quiet time before one worker less
	// ControlSocket is the path of the master's control socket (docs/operations.md),
	// already defaulted (ControlSocketPath); "" = none.
	ControlSocket string `json:"control_socket"`

	Backlog           int           `json:"backlog"`
	Keepalive         time.Duration `json:"keepalive"`
	WorkerConnections int           `json:"worker_connections"`
	ReadHeaderTimeout time.Duration `json:"read_header_timeout"`
	ReadTimeout       time.Duration `json:"read_timeout"`
	WriteTimeout      time.Duration `json:"write_timeout"`

	// RequestTimeout is the default of every app's request_timeout (and,
	// for cgi, of script_timeout) when the file sets it; 0 = none.
	// SlowRequestLog logs a request still running after it, once, with
	// its stack; 0 = off (docs/operations.md).
	RequestTimeout    time.Duration `json:"request_timeout"`
	SlowRequestLog    time.Duration `json:"slow_request_log"`
	requestTimeoutSet bool          // the file set request_timeout

	// ForwardedAllowIPs are the peers (IPs, CIDRs, "*") whose
	// X-Forwarded-For, X-Forwarded-Proto and Forwarded headers set the
	// client address and scheme apps see (docs/proxies.md).
	ForwardedAllowIPs []string `json:"forwarded_allow_ips"`

	LimitRequestLine      int `json:"limit_request_line"`
	LimitRequestFields    int `json:"limit_request_fields"`
	LimitRequestFieldSize int `json:"limit_request_field_size"`

	// Process settings (docs/deploy-systemd.md): workers (and the CGI
	// scripts they start) run as User/Group; the master keeps its rights to
	// bind and re-exec. Umask < 0 leaves the inherited umask alone.
	User   string `json:"user"`
	Group  string `json:"group"`
	Umask  int    `json:"umask"`
	Chdir  string `json:"chdir"`
	Status Status `json:"status"`

	// ListenDefaulted is true when no [[listen]] and no --bind gave the
	// listeners, so they are the default (or $PORT). Under socket
	// activation the activated sockets then replace them.
	ListenDefaulted bool `json:"listen_defaulted"`

	Log    Log      `json:"log"`
	Listen []Listen `json:"listen"`
	App    App      `json:"app"`
	// Mounts serve other apps under URL paths; [app] serves the rest.
	Mounts []Mount `json:"mounts"`
}

// Status configures the master's own small HTTP server for health checks,
// fleet status and metrics.
type Status struct {
	Address string `json:"address"` // "host:port" or "unix:/path"; "" = off
}

// Log configures the master's log and the workers' access log.
type Log struct {
	Level     string `json:"level"`      // trace, debug, info, warn, error
	Format    string `json:"format"`     // auto, json, console
	File      string `json:"file"`       // "" = stderr
	AccessLog string `json:"access_log"` // "" = off, "-" = the main log, else a file path
	// AccessLogFormat is a preset name (common, combined, json) or a
	// gunicorn-style format; "" = arbiter's structured line (docs/config.md).
	AccessLogFormat string `json:"access_log_format"`
}

// Listen is one listening socket and the protocol spoken on it.
type Listen struct {
	Address  string `json:"address"`  // "host:port", "unix:/path", "fd://N"
	Protocol string `json:"protocol"` // http, fastcgi, scgi, uwsgi
	Mode     uint32 `json:"mode"`     // unix socket file mode; 0 = leave as umask made it
	Name     string `json:"name"`     // optional label used in logs and metrics
	// ProxyProtocol: every connection starts with a PROXY protocol header
	// (v1 or v2) naming the client (docs/proxies.md).
	ProxyProtocol bool `json:"proxy_protocol"`
	// TLS, for an http listener (docs/tls.md); empty = plain HTTP.
	TLS ListenTLS `json:"tls"`
	// H2C serves HTTP/2 with prior knowledge on a plain http listener,
	// besides HTTP/1.1; off by default.
	H2C bool `json:"h2c"`
}

// ListenTLS is a listener's certificate files, as absolute paths once
// loaded.
type ListenTLS struct {
	Cert       string `json:"cert,omitempty"`        // tls_cert: PEM certificate (and chain)
	Key        string `json:"key,omitempty"`         // tls_key: PEM private key
	ClientCA   string `json:"client_ca,omitempty"`   // tls_client_ca: PEM CAs client certificates must chain to
	ClientAuth string `json:"client_auth,omitempty"` // tls_client_auth: require (default with a CA) or verify_if_given
}

// Enabled reports whether the listener serves TLS.
func (t ListenTLS) Enabled() bool { return t.Cert != "" || t.Key != "" }

// App selects what answers requests.
type App struct {
	Type  string   `json:"type"`
	Root  string   `json:"root"`  // static: the directory served; cgi: the directory of scripts
	Index []string `json:"index"` // static: index file names tried for a directory

	// cgi only (docs/cgi.md).
	Script            string            `json:"script"`             // the one program that answers every request
	Prefix            string            `json:"prefix"`             // URL prefix the script or root is mounted under
	Interpreters      map[string]string `json:"interpreters"`       // extension (".py") → program and arguments
	Extensions        []string          `json:"extensions"`         // allowed script extensions; empty = any
	Workdir           string            `json:"workdir"`            // working directory; "" = the script's directory
	PassEnv           []string          `json:"pass_env"`           // worker environment variables scripts get
	PassAuthorization bool              `json:"pass_authorization"` // pass HTTP_AUTHORIZATION to scripts
	ScriptTimeout     time.Duration     `json:"script_timeout"`     // a script's time limit (504); 0 = none
	scriptTimeoutSet  bool              // the file set script_timeout
	MaxScripts        int               `json:"max_scripts"`      // concurrent scripts per worker
	MaxScriptsWait    time.Duration     `json:"max_scripts_wait"` // how long a request waits for a slot (then 503)

	// every type but cgi: RequestTimeout, below with the wsgi keys.

	// wsgi only (docs/wsgi.md). Workdir is also the app processes' working
	// directory.
	Module            string            `json:"module"`          // gunicorn's APP_MODULE: "pkg.module:callable"
	Python            string            `json:"python"`          // the interpreter; absolute once validated
	Virtualenv        string            `json:"virtualenv"`      // a virtualenv whose bin/python is the default interpreter
	PythonPath        []string          `json:"pythonpath"`      // directories put first in sys.path
	Env               map[string]string `json:"env"`             // [app.env]: set in the app processes' environment
	Processes         int               `json:"processes"`       // app processes per worker
	Threads           int               `json:"threads"`         // requests at a time per app process
	Preload           bool              `json:"preload"`         // import once, fork the processes from it
	SchedBatch        bool              `json:"sched_batch"`     // run the app processes under SCHED_BATCH (default true)
	RequestTimeout    time.Duration     `json:"request_timeout"` // a request's time in the app (504); 0 = none; any type but cgi
	requestTimeoutSet bool              // the file set request_timeout
	MaxRequests       int               `json:"max_requests"`        // recycle an app process after this many requests; 0 = never
	MaxRequestsJitter int               `json:"max_requests_jitter"` // plus up to this many
	MaxMemory         int64             `json:"max_memory"`          // recycle an app process over this RSS (bytes); 0 = never
	BufferSize        int64             `json:"buffer_size"`         // body bytes kept in memory per request and response
	MaxBodySize       int64             `json:"max_body_size"`       // largest request body (413); 0 = no limit
	TempDir           string            `json:"temp_dir"`            // where bodies over buffer_size go; "" = $TMPDIR

	wsgiSet map[string]bool // the wsgi keys the file set
}

// Mount is an app served under a URL path (uWSGI's mountpoints): the
// request path equals Path or starts with Path + "/". It has every [app] key.
type Mount struct {
	Path string `json:"path"`
	App
}

// Defaults, as documented in docs/config.md.
const (
	DefaultTimeout               = 30 * time.Second
	DefaultGracefulTimeout       = 30 * time.Second
	DefaultMaxBootFailures       = 5
	DefaultReloadStrategy        = ReloadGeneration
	DefaultReloadBatch           = 1
	DefaultUpgradeTimeout        = 60 * time.Second
	DefaultScaleDownAfter        = 30 * time.Second
	DefaultBacklog               = 2048
	DefaultKeepalive             = 2 * time.Second
	DefaultWorkerConnections     = 1000
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultReadTimeout           = 60 * time.Second
	DefaultWriteTimeout          = 0
	DefaultLimitRequestLine      = 4094
	DefaultLimitRequestFields    = 100
	DefaultLimitRequestFieldSize = 8190
	DefaultAddress               = "127.0.0.1:8000"

	DefaultPrefix         = "/"
	DefaultScriptTimeout  = 60 * time.Second
	DefaultMaxScripts     = 64
	DefaultMaxScriptsWait = time.Second
)

// DefaultForwardedAllowIPs is the default forwarded_allow_ips: the
// loopback addresses, gunicorn's 127.0.0.1 and its IPv6 twin, so that a
// proxy on the same host is believed and no one else is.
var DefaultForwardedAllowIPs = []string{"127.0.0.1", "::1"}

// DefaultPassEnv is the default [app] pass_env.
var DefaultPassEnv = []string{"PATH"}
