// Package cgi is the arbiter application that runs CGI programs (RFC 3875):
// one script for every request, or a directory of scripts, behind arbiter's
// HTTP listener or behind a web server speaking FastCGI, SCGI or uwsgi
// (the fcgiwrap set-up, where nginx names the script in SCRIPT_FILENAME).
// docs/cgi.md is the user's guide; this is the reference for the edges.
//
// # Which script runs
//
// With Config.Script, that program answers every request under the prefix
// (others get 404); SCRIPT_NAME is the prefix and PATH_INFO the rest of
// the path. With Config.Root, the path under the prefix is walked from the
// root one segment at a time, skipping empty ones, to the first regular
// file: /cgi-bin/tools/hello.sh/a/b with prefix /cgi-bin runs
// ROOT/tools/hello.sh with SCRIPT_NAME=/cgi-bin/tools/hello.sh and
// PATH_INFO=/a/b. Behind a front end, its SCRIPT_FILENAME names the script
// (with Root only); it must be an absolute path inside the root naming a
// regular file exactly, and the front end's SCRIPT_NAME and PATH_INFO are
// passed on as sent. Without SCRIPT_FILENAME, the front end's SCRIPT_NAME
// plus PATH_INFO is the path walked.
//
// Confinement: the root is opened with [os.Root] for every request, so no
// path and no symlink reaches outside it (such a path is 404, as a missing
// one). A segment that starts with "." (".", "..", .git, .htaccess) is 404
// in the script's part of the path; "." and ".." are 404 in PATH_INFO as
// well, so that PATH_TRANSLATED (the root plus PATH_INFO) stays inside the
// root. An encoded slash (%2F) anywhere in the path is 404, as in Apache
// (it cannot be told from a real one once decoded); a NUL is 400. A path
// that ends at a directory is 404: there are no index scripts. The script
// file is checked and then run by its path, so a file swapped in between
// can only come from someone who may write to the root anyway.
//
// A script runs through the interpreter for its extension when there is
// one (it then needs neither "#!" nor the executable bit), else directly
// (it must be executable: 403 otherwise). With Config.Extensions, other
// extensions are 403. A script runs in its own directory (RFC 3875 §7.2),
// or in Config.Dir. argv is the interpreter, then the script's path; the
// query string never becomes arguments (the §4.4 "search" convention was
// the door of CVE-2012-1823 in php-cgi).
//
// # Environment
//
// A script gets Config.PassEnv from the worker's environment (nothing else
// of it) and the meta-variables described on [Handler.env]: over HTTP every
// RFC 3875 §4.1 variable that applies plus REQUEST_URI, SCRIPT_FILENAME,
// DOCUMENT_ROOT, HTTPS, REQUEST_SCHEME, REMOTE_PORT, SERVER_ADDR and
// REMOTE_HOST; over FastCGI, SCGI and uwsgi the front end's variables, as
// sent. Headers whose names have anything but letters, digits and "-" are
// dropped; Proxy (httpoxy), Proxy-Authorization and, unless
// Config.PassAuthorization, Authorization never reach a script.
// CONTENT_LENGTH is set when the request has a body, and is its length
// after transfer codings are removed.
//
// # The request body
//
// A body of known length is written to the script's stdin while its stdout
// is read, so a script that never reads stdin cannot deadlock against a
// large upload: once it exits, the copy ends (EPIPE) and the rest of the
// body is not read (net/http then closes the connection). A chunked body,
// or one of unknown length from a front end, is read in full first (64 KiB
// in memory, beyond that in an unlinked temporary file, at most 1 GiB, 413
// beyond) so that CONTENT_LENGTH can be set. So is any body for an nph
// script, whose connection may be taken over. A body that cannot be read
// (a malformed chunk) is 400.
//
// # Output (RFC 3875 §6)
//
// The header block is parsed by readHeader, whose documentation lists what
// makes it invalid (no blank line, bare CR, obs-fold, a bad or repeated
// Status, over-long lines...). Invalid output is 502 and an error log line
// naming the script, the reason and its exit status; it never panics.
//   - A Location that is a path, without Status, is a local redirect: the
//     rest of the output is dropped, the script is reaped, and the request
//     is dispatched again as a GET (a HEAD stays HEAD) for that path,
//     without its body, with REDIRECT_STATUS=200 and REDIRECT_URL. More
//     than 10 in a row are a loop: 502.
//   - Any other Location is a client redirect: 302 unless Status says
//     otherwise, with the script's body if it has one. A Location that is
//     neither a path nor an absolute URL is invalid.
//   - Otherwise the response is a document: Status or 200.
//
// The script's header fields are passed on except the hop-by-hop ones
// (Connection and what it names, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade). A script that declares "Transfer-Encoding:
// chunked" has its body decoded (the server frames the response itself). A
// valid Content-Length is kept: a shorter body makes net/http close the
// connection, a longer one is cut at the declared length and logged. The
// body of a HEAD, 204 or 304 response is read and dropped. Output is
// flushed to the client whenever the script has written nothing more for a
// millisecond, so streaming scripts stream, while a script that exits
// within that time of its last write has its response sent in one piece
// (with a Content-Length where the protocol gives one).
//
// nph- scripts: see relayNPH. Over HTTP their output goes out unmodified on
// the hijacked connection, which is closed after it. Over FastCGI, SCGI and
// uwsgi the output is parsed as an HTTP response and passed on like a
// parsed-header one.
//
// # Processes
//
// Each script runs in its own process group. The group gets SIGKILL when
// the script runs past Config.Timeout (504 if nothing was sent yet, else
// the response is aborted with http.ErrAbortHandler so that the client sees
// it cut off), when the client goes away (the request context ends), when
// its output is invalid or cannot be delivered, when the request body
// cannot be read to its end (400 if nothing was sent yet, else the response
// is aborted), and on Close. A script
// whose stdout has ended but which keeps running gets SIGTERM after 2 s and
// SIGKILL 1 s later, as Apache does. A grandchild that stays in the group
// dies with it; one that leaves the group (setsid) is out of reach, and
// when it outlives the script it is reparented to the master, which is a
// subreaper, and reaped there. Every script is waited for: no zombies. Its
// exit status is logged ("cgi exit": debug when 0, warn otherwise, with
// the reason when it was killed); its stderr is logged line by line as it
// comes ("cgi stderr", warn; the first 100 lines of a run, the rest
// counted). If the worker dies, Pdeathsig kills the script.
//
// At most Config.MaxScripts scripts run at once; a request beyond that
// waits up to Config.MaxScriptsWait for a slot, then gets 503 with
// Retry-After. Failing to start a script is 500, 403 for a permission
// error, 431 for an environment too large for exec (E2BIG).
//
// Scripts inherit no file descriptor but 0, 1 and 2 (see [Handler.start]).
//
// This package runs on Linux only: it uses waitid, Pdeathsig and
// close_range.
package cgi
