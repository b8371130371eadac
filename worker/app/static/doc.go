// Package static is the arbiter application that serves the files of one
// directory, the way nginx's "root" + "index" + "try_files $uri $uri/ =404"
// does, with the confinement of a chroot.
//
// # Confinement
//
// Every request opens the root afresh with [os.OpenRoot] and resolves the
// request path inside it, so neither a crafted path nor a symlink (absolute,
// or relative with "..") can reach a file outside the root: such a symlink
// answers 404, as if it did not exist. Symlinks that stay inside the root are
// followed, including links to dotfiles: those are the operator's choice.
// Opening the root per request (one extra open and close) means that a root
// which is a symlink swapped by a deploy ("current -> releases/42") is
// followed at once; nothing is cached that can go stale.
//
// Request paths (already percent-decoded by net/http, so "%2e%2e/" and
// "..%2f" arrive as "../") are checked before any file is touched:
//   - a NUL byte or a backslash is 400 Bad Request;
//   - a segment that starts with "." is 404 Not Found. This covers "." and
//     "..", and dotfiles and dot directories such as .git, .env and .htpasswd,
//     which a deploy often leaves in the document root. The one exception is
//     a first segment of exactly ".well-known" (RFC 8615): it is meant to be
//     public, and ACME HTTP-01 challenges (/.well-known/acme-challenge/…) must
//     be reachable for a certificate to be issued. Dot segments below it are
//     still 404;
//   - empty segments ("//") are merged, as nginx's merge_slashes does.
//
// # Methods and directories
//
// GET and HEAD are served; any other method is 405 with "Allow: GET, HEAD".
// A request naming a directory without a trailing slash is redirected (301)
// to the same path with the slash, by a relative Location ("./name/?query")
// so that the redirect stays right behind a proxy or an [http.StripPrefix]
// that removed a prefix. With the slash, the first index file that exists
// and is a regular file is served; if there is none the answer is 404:
// there are no directory listings. A regular file named with a trailing
// slash is 404. FIFOs, devices and sockets are 404: they are opened
// non-blocking, so a FIFO in the root cannot hang a worker.
//
// # Responses
//
// Files are served by [http.ServeContent], which gives Last-Modified,
// If-Modified-Since and If-None-Match (304), If-Range, Range and multi-range
// (206, multipart/byteranges) and 416 for an unsatisfiable range. The ETag is
// a strong validator built from the size and the modification time in
// nanoseconds. Content-Type comes from the extension ([mime.TypeByExtension],
// which also reads the system's mime.types), else from sniffing the first
// 512 bytes.
//
// A file is opened for the request and closed when the response is written,
// also when the client goes away mid-transfer (the write fails, the copy
// stops and the file is closed). A missing file, a path through a non-directory,
// a symlink loop, a name too long and an escaping symlink are 404; a file the
// worker may not read is 403; any other error (including a root that cannot be
// opened any more) is 500. Error bodies are the bare status text: they never
// contain a file system path or an error message.
package static
