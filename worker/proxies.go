package worker

import (
	"maps"
	"net"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/ipc"
	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/forwarded"
	"github.com/arbiter-dev/arbiter/worker/info"
	"github.com/arbiter-dev/arbiter/worker/peerlog"
	"github.com/arbiter-dev/arbiter/worker/proxyproto"
)

// withForwarded applies what trusted proxies say about the client
// (forwarded_allow_ips, docs/proxies.md) before h sees the request: the
// client's address becomes r.RemoteAddr ("ip:port", or the bare IP when the
// headers gave no port) and its scheme r.URL.Scheme and info.Scheme. Over
// FastCGI, SCGI and uwsgi the peer checked is the front end's REMOTE_ADDR,
// and a copy of the front end's variables gets the new REMOTE_ADDR,
// REMOTE_PORT (removed when no port was given), REMOTE_HOST when it had
// one, and HTTPS and REQUEST_SCHEME; a front end that sent no REMOTE_ADDR
// is not trusted. A request from a peer not trusted, or
// with no forwarding headers, is passed on unchanged: the headers stay
// plain headers (HTTP_X_FORWARDED_FOR) either way.
func withForwarded(trust *forwarded.Trust, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A front end that sent no REMOTE_ADDR leaves r.RemoteAddr "", which
		// must not pass for a unix-socket peer.
		if r.RemoteAddr == "" && cgivars.Env(r) != nil {
			h.ServeHTTP(w, r)
			return
		}
		if res, ok := trust.Resolve(r.RemoteAddr, r.Header); ok {
			r = applyForwarded(r, res)
		}
		h.ServeHTTP(w, r)
	})
}

func applyForwarded(r *http.Request, res forwarded.Result) *http.Request {
	ctx := r.Context()
	env := maps.Clone(cgivars.Env(r))
	if env != nil {
		ctx = cgivars.WithEnv(ctx, env)
	}
	if res.Scheme != "" {
		ctx = info.WithScheme(ctx, res.Scheme)
	}
	r2 := r.WithContext(ctx)
	if res.Addr.IsValid() {
		r2.RemoteAddr = res.RemoteAddr()
		if env != nil {
			ip := res.Addr.String()
			env["REMOTE_ADDR"] = ip
			if _, ok := env["REMOTE_HOST"]; ok {
				env["REMOTE_HOST"] = ip
			}
			delete(env, "REMOTE_PORT")
			if res.Port != 0 {
				env["REMOTE_PORT"] = strconv.Itoa(int(res.Port))
			}
		}
	}
	if res.Scheme != "" {
		u := *r.URL
		u.Scheme = res.Scheme
		r2.URL = &u
		if env != nil {
			env["REQUEST_SCHEME"] = res.Scheme
			delete(env, "HTTPS")
			if res.Scheme == "https" {
				env["HTTPS"] = "on"
			}
		}
	}
	return r2
}

// proxyListener wraps a proxy_protocol listener: each connection's PROXY
// header is read, within read_header_timeout (proxyproto.DefaultTimeout
// when that is 0), off the accept loop; a connection without a valid one
// is closed and logged, rate-limited, with its peer and the reason.
func proxyListener(l net.Listener, bl ipc.Listener, cfg *config.Config, log zerolog.Logger) net.Listener {
	plog := peerlog.New(log.With().Str("listener", bl.Address).Logger(), bl.Protocol)
	return proxyproto.NewListener(l, cfg.ReadHeaderTimeout, cfg.WorkerConnections, plog.Bad)
}
