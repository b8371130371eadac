// Command fcgibaseline is the baseline of `make bench-nginx`: the standard
// library's net/http/fcgi serving the same handler as arbiter's echo app
// (worker/app/echo), in one process with the default GOMAXPROCS.
//
//	fcgibaseline -addr 127.0.0.1:9000
//
// It serves until SIGTERM or SIGINT. net/http/fcgi has no graceful
// shutdown, so in-flight requests are cut off.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http/fcgi"
	"os"
	"os/signal"
	"syscall"

	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "TCP address to serve FastCGI on")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fcgibaseline: %v\n", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		l.Close()
	}()
	if err := fcgi.Serve(l, echo.New()); err != nil && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(os.Stderr, "fcgibaseline: %v\n", err)
		os.Exit(1)
	}
}
