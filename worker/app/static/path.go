package static

import (
	"net/http"
	"strings"
)

// wellKnown is the only dot segment served, and only as the first segment.
const wellKnown = ".well-known"

// reqPath is a request path checked and reduced to a name inside the root.
type reqPath struct {
	// name is slash-separated, relative to the root, without empty, "." or
	// ".." segments, and "." for the root itself.
	name string
	// slash reports whether the URL path ended in "/".
	slash bool
}

// parsePath checks the decoded URL path p. It returns the path inside the
// root, or an HTTP status (400 or 404) explaining why it is refused. An empty
// p, as left by http.StripPrefix for its own prefix, is the root; a p without
// a leading slash is read as if it had one.
func parsePath(p string) (reqPath, int) {
	if strings.ContainsAny(p, "\x00\\") {
		return reqPath{}, http.StatusBadRequest
	}
	rp := reqPath{slash: p == "" || strings.HasSuffix(p, "/")}
	var b strings.Builder
	first := true
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" {
			continue
		}
		if seg[0] == '.' && !(first && seg == wellKnown) {
			return reqPath{}, http.StatusNotFound
		}
		if !first {
			b.WriteByte('/')
		}
		b.WriteString(seg)
		first = false
	}
	rp.name = b.String()
	if rp.name == "" {
		rp.name = "." // p is "", or only slashes: rp.slash is already set
	}
	return rp, 0
}

// validIndexName reports whether name can be an index file name: a single
// path segment that is not a dotfile.
func validIndexName(name string) bool {
	return name != "" && name[0] != '.' && !strings.ContainsAny(name, "/\\\x00")
}
