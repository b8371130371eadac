// Package fastcgi is a FastCGI 1.0 responder: a Server accepts web server
// connections (nginx fastcgi_pass, Apache mod_proxy_fcgi, haproxy, Caddy,
// lighttpd, cgi-fcgi) and hands each request, built by worker/cgivars, to an
// http.Handler. It replaces net/http/fcgi, which has no shutdown, limits or
// timeouts, answers GET_VALUES and ABORT_REQUEST wrongly and blocks
// multiplexed requests on one another.
//
// # Protocol
//
// Records of every type are framed (version 1 only; padding up to 255 bytes
// skipped). PARAMS may be split over any number of records, a name-value
// pair straddling a record boundary, with 1- and 4-byte lengths. The
// handler starts at the empty PARAMS record and may answer before STDIN
// ends. A body whose CONTENT_LENGTH is empty, absent or "-1" (nginx with
// fastcgi_request_buffering off, Apache, Caddy) is streamed: ContentLength
// is -1 and the body ends at the empty STDIN record. With a CONTENT_LENGTH
// the handler reads at most that many bytes: STDIN beyond it is discarded,
// STDIN ending short of it gives io.ErrUnexpectedEOF.
//
// The response is CGI style ("Status:" header, see cgivars) in STDOUT
// records of at most 65535 bytes, padded to 8; Flush sends what is buffered
// at once. It ends with the empty STDOUT record and END_REQUEST
// (FCGI_REQUEST_COMPLETE, appStatus 0, or 1 after a panic, an abort or an
// incomplete response). STDERR content is never sent; the only STDERR
// record is the empty nudge that asks a pooling web server to close a
// connection (nudge.go), which nginx skips if a request crossed it.
// Nothing else is ever sent for a request after its END_REQUEST, and no management record is sent except in
// answer to one: GET_VALUES gets a single GET_VALUES_RESULT with those of
// FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS that were asked for;
// any other record with request id 0 gets UNKNOWN_TYPE, as in the reference
// library (so does BEGIN_REQUEST with id 0).
//
// Roles other than RESPONDER get END_REQUEST with FCGI_UNKNOWN_ROLE. A
// BEGIN_REQUEST beyond Server.MaxRequests gets FCGI_OVERLOADED
// (FCGI_CANT_MPX_CONN when MaxRequests is 1). ABORT_REQUEST sends
// END_REQUEST at once, then cancels the request's context and fails its body
// with ErrAborted; from then on the handler's writes are dropped (they
// return ErrAborted) and the id is free for a new request.
// Records for an inactive request id are ignored (late STDIN, an ABORT that
// crossed our END_REQUEST); DATA and types unknown to FastCGI 1.0 on an
// active id are skipped.
//
// FCGI_KEEP_CONN=0: the connection is closed once that request is answered
// and no other is active, gracefully (our side is shut down, then what the
// web server still sends is discarded for up to half a second, so that it
// gets no reset). FCGI_KEEP_CONN=1: the web server owns the connection,
// which stays open until it closes it, IdleTimeout, or Shutdown.
//
// Protocol errors close the connection and are logged once, with the peer
// and the reason, through Server.Log: a version other than 1, BEGIN_REQUEST
// with content other than 8 bytes or for an active id, PARAMS after the
// params stream ended, STDIN before the params ended or after the empty
// STDIN record, a
// malformed name-value pair (past the end of the stream, an empty name, a
// NUL in a name), params not complete within ReadHeaderTimeout. Requests the
// handler should not see are answered without it and logged, keeping the
// connection: params over MaxParamsBytes get 431, variables that do not make
// an HTTP request (cgivars.ErrBadRequest) get 400. An EOF or a reset from
// the peer is not logged: it cancels every request's context (the peer has
// gone), fails unfinished bodies with io.ErrUnexpectedEOF, and the socket is
// closed when the running handlers have returned.
//
// # Multiplexing and body buffering
//
// One goroutine per connection reads records; every request's handler runs
// in its own goroutine, so a slow handler never delays another request, and
// requests complete in any order. Writes from all requests go through one
// mutex, one record (or one response tail) at a time, each bounded by
// WriteTimeout.
//
// FastCGI has no per-request flow control: the bytes of one request's body
// sit in the connection in front of everything the web server sends after
// them. Each request buffers at most BodyBuffer bytes of STDIN ahead of its
// handler. When a STDIN record arrives for a request whose buffer is full:
//
//   - If it is the only active request and the peer has never had two
//     requests active at once on this connection (nginx, Apache, Caddy,
//     lighttpd and cgi-fcgi never multiplex), the read loop waits until the
//     handler reads, closes the body or returns, or ReadTimeout fails the
//     body. This is TCP back-pressure: an upload of any size is passed
//     through at the handler's pace, and no other request is queued behind
//     it on such a connection.
//   - Otherwise (haproxy with mpxs-conns), the read loop waits at most half
//     a second for the handler to read something; if it does not, the body
//     fails with ErrBodyStalled, the rest of that body is discarded as it
//     arrives, and the other requests move on. The handler still answers.
//     Memory stays bounded and a handler that never reads its body stalls
//     the others for at most that long, once.
//
// A handler that writes a large response before reading its body, to a
// web server that sends the whole body before it reads the response, waits
// for WriteTimeout (nginx, Apache and haproxy read while they send).
//
// The remaining case: a multiplexing peer that starts a second request
// while the first request of a fresh connection is a large upload whose
// handler is not reading waits for that handler (or ReadTimeout). While the
// read loop waits, it also does not see the peer going away, as with
// net/http when a handler leaves a body unread.
//
// # Limits and what a peer can cost
//
// Per connection: at most MaxRequests requests, each holding at most
// MaxParamsBytes of params, BodyBuffer of body and a 16 KiB output buffer,
// plus a 16 KiB read buffer; a declared length never reserves more than one
// record's content (64 KiB) ahead of what has arrived. Per server: at most MaxConns connections. A
// connection keeps its MaxConns slot until all its handlers have returned,
// aborted ones included, so a handler ignoring its context cannot be
// multiplied without bound by a peer that aborts and reconnects.
//
// A handler panic is recovered and logged (http.ErrAbortHandler silently);
// if no byte of the response had been sent, the web server gets a 500;
// either way END_REQUEST follows (appStatus 1). Note that a response that
// was already under way then ends looking complete to the web server.
//
// Server.Shutdown closes the listeners, keeps serving open connections,
// nudges the pooled ones so that the web server closes them, and returns
// when every connection has ended (see its doc comment for the timings).
package fastcgi
