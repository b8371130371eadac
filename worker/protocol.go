package worker

import (
	"context"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/ipc"
	"github.com/arbiter-dev/arbiter/worker/fastcgi"
	"github.com/arbiter-dev/arbiter/worker/info"
	"github.com/arbiter-dev/arbiter/worker/peerlog"
	"github.com/arbiter-dev/arbiter/worker/scgi"
	"github.com/arbiter-dev/arbiter/worker/uwsgi"
)

// newProtocolServer builds the server for the CGI-style protocols. Each
// request's context carries the listener's protocol (info.Protocol), set once
// in the server's BaseContext as net/http's is. They take
// the same limits as HTTP: worker_connections, read_header_timeout,
// read_timeout, write_timeout, and keepalive as FastCGI's idle timeout for
// kept connections. Bad input is logged through a rate-limited peer log.
func newProtocolServer(bl ipc.Listener, cfg *config.Config, h http.Handler, log zerolog.Logger) (server, error) {
	base := info.WithProtocol(context.Background(), bl.Protocol)
	plog := peerlog.New(log.With().Str("listener", bl.Address).Logger(), bl.Protocol)
	switch bl.Protocol {
	case config.ProtoFastCGI:
		return &fastcgi.Server{
			Handler: h, BaseContext: base, Log: plog, MaxConns: cfg.WorkerConnections,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout,
			WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.Keepalive,
		}, nil
	case config.ProtoSCGI:
		return &scgi.Server{
			Handler: h, BaseContext: base, Log: plog, MaxConns: cfg.WorkerConnections,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
		}, nil
	case config.ProtoUWSGI:
		return &uwsgi.Server{
			Handler: h, BaseContext: base, Log: plog, MaxConns: cfg.WorkerConnections,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
		}, nil
	}
	return nil, fmt.Errorf("listener %s: unknown protocol %q", bl.Address, bl.Protocol)
}
