// Command testapp is arbiter in library mode with handlers the end-to-end
// and interop tests need (cmd/arbiter/interop_test.go): a streamed response,
// a body checksum, a slow handler that records its context's cancellation,
// and echo's JSON for everything else. It is not a demo; see examples/.
//
// The route is the last element of the request path, so that any prefix a
// front end puts in front (nginx locations such as /fcgi/) does not matter:
//
//	…/sha256   reads the body; JSON Checksum (SHA-256, length, framing)
//	…/stream   n chunks "chunk I\n" (default 5), each flushed, delay apart
//	           (a duration, default 0); with gate=NAME it waits after the
//	           first chunk until the file NAME exists in the state dir
//	…/slow     writes "started\n", then a "." line every tick (default
//	           100ms) until the request context ends or max (default 30s)
//	           passes; with id=ID it records the outcome in the state dir
//	…/headers  JSON of the request's Host and headers
//	…/hang     writes nothing until the request context ends
//	…/stuck    writes nothing and never returns (request_timeout's stuck
//	           handler)
//	otherwise  the echo app's JSON (worker/app/echo)
//
// The state dir is $ARBITER_TESTAPP_DIR. /slow writes "cancelled-ID"
// (holding the context's cause) or "finished-ID" there; the tests wait for
// those files, which works whichever worker served the request. Without the
// variable, gate and id are refused with 400.
//
// Streamed responses carry "X-Accel-Buffering: no", so that nginx passes
// each chunk on as it arrives instead of buffering the response.
package main

import (
	"net/http"

	"github.com/arbiter-dev/arbiter/arbiter"
)

func main() {
	arbiter.MainApp(arbiter.App{Load: func() (http.Handler, error) { return newHandler(), nil }})
}
