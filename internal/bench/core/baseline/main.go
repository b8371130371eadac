// Command baseline is the single-process net/http server bench-core
// compares arbiter with: one process, one http.Server, the same handler.
//
//	baseline -app echo|hello -addr 127.0.0.1:0 [-tls-cert F -tls-key F]
//
// With -tls-cert and -tls-key it serves HTTPS (http.Server.ServeTLS, which
// offers h2 and http/1.1 by ALPN, as an arbiter worker does).
// It prints "listening on HOST:PORT" on stdout once it accepts, and on
// SIGTERM or SIGINT stops accepting, lets in-flight requests finish (at most
// 5 s) and exits 0. It uses arbiter's default timeouts, tags requests with
// the protocol "http" and records the identity of worker 1, so that the
// handlers write the same headers and bodies, of the same sizes, as under
// an arbiter worker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/core/handlers"
	"github.com/arbiter-dev/arbiter/worker/info"
)

func main() {
	app := flag.String("app", handlers.EchoName, "application: echo or hello")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	cert := flag.String("tls-cert", "", "serve HTTPS with this PEM certificate")
	key := flag.String("tls-key", "", "and this PEM key")
	flag.Parse()
	if err := run(*app, *addr, *cert, *key); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run(app, addr, cert, key string) error {
	h, err := handlers.ByName(app)
	if err != nil {
		return err
	}
	info.Set(info.Worker{ID: 1, Generation: 1, PID: os.Getpid()})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second, // arbiter's defaults
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       2 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return info.WithProtocol(context.Background(), "http") },
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() {
		if cert != "" {
			served <- srv.ServeTLS(l, cert, key)
			return
		}
		served <- srv.Serve(l)
	}()
	fmt.Printf("listening on %s (GOMAXPROCS %d)\n", l.Addr(), runtime.GOMAXPROCS(0))

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
