package static

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// handler serves the directory root. It holds no open file between requests.
type handler struct {
	root  string   // absolute path of the served directory
	index []string // index file names, tried in order
	// escapes is the error os.Root reports for a path that leaves the root
	// (os does not export it); a symlink pointing outside the root yields it.
	escapes error
}

// New returns a handler that serves the files under root. index lists the
// file names tried, in order, for a request that names a directory (nil or
// empty means []string{"index.html"}); each must be a single path segment
// that does not start with ".".
//
// It fails if root is not a readable directory. A relative root is made
// absolute now, so a later change of working directory does not move it. The
// root is opened again for every request (see the package documentation), so
// if it disappears later, requests fail with 500 until it is back.
func New(root string, index []string) (http.Handler, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("static root %q: %w", root, err)
	}
	if len(index) == 0 {
		index = []string{"index.html"}
	}
	for _, name := range index {
		if !validIndexName(name) {
			return nil, fmt.Errorf("static index file name %q: must be one path segment not starting with \".\"", name)
		}
	}
	// Stat first: os.OpenRoot opens without O_NONBLOCK, which on a FIFO
	// would wait for a writer.
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("static root: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("static root %s: not a directory", abs)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("static root: %w", err)
	}
	defer r.Close()
	if err := checkReadable(r); err != nil {
		return nil, fmt.Errorf("static root %s: %w", abs, err)
	}
	h := &handler{root: abs, index: append([]string(nil), index...)}
	// A leading slash is refused by os.Root before any system call, with the
	// same error an escaping symlink produces.
	_, err = r.Lstat("/")
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		h.escapes = pe.Err
	}
	return h, nil
}

// checkReadable reports an error unless the directory r can be listed.
func checkReadable(r *os.Root) error {
	d, err := r.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Readdirnames(1); err != nil && err != io.EOF {
		return fmt.Errorf("read directory: %w", err)
	}
	return nil
}

// ServeHTTP serves one GET or HEAD request. See the package documentation.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		fail(w, http.StatusMethodNotAllowed)
		return
	}
	rp, status := parsePath(r.URL.Path)
	if status != 0 {
		fail(w, status)
		return
	}
	root, err := os.OpenRoot(h.root)
	if err != nil {
		fail(w, http.StatusInternalServerError)
		return
	}
	defer root.Close()

	f, fi, err := openServable(root, rp.name)
	if err != nil {
		fail(w, h.status(err))
		return
	}
	if !fi.IsDir() {
		defer f.Close()
		if rp.slash {
			fail(w, http.StatusNotFound)
			return
		}
		serveFile(w, r, f, fi, path.Base(rp.name))
		return
	}
	f.Close()
	if !rp.slash {
		redirectToDir(w, r)
		return
	}
	for _, name := range h.index {
		f, fi, err := openServable(root, path.Join(rp.name, name))
		if err != nil {
			if status := h.status(err); status != http.StatusNotFound {
				fail(w, status)
				return
			}
			continue
		}
		if fi.IsDir() {
			f.Close()
			continue
		}
		defer f.Close()
		serveFile(w, r, f, fi, name)
		return
	}
	fail(w, http.StatusNotFound)
}

// errNotServable marks a file that is neither regular nor a directory.
var errNotServable = errors.New("not a regular file or directory")

// openServable opens name in root, following symlinks that stay inside it,
// and returns it with its FileInfo if it is a regular file or a directory.
// It opens with O_NONBLOCK so that a FIFO cannot block the open; the flag
// does not change reads from a regular file.
func openServable(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		f.Close()
		return nil, nil, errNotServable
	}
	return f, fi, nil
}

// status maps an error from opening a file to the HTTP status answered.
func (h *handler) status(err error) int {
	switch {
	case errors.Is(err, fs.ErrNotExist),
		errors.Is(err, syscall.ENOTDIR),
		errors.Is(err, syscall.ELOOP),
		errors.Is(err, syscall.ENAMETOOLONG),
		errors.Is(err, errNotServable),
		h.escapes != nil && errors.Is(err, h.escapes):
		return http.StatusNotFound
	case errors.Is(err, fs.ErrPermission):
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// serveFile answers with the content of the open regular file f, named name
// for the Content-Type.
// A Range in a unit other than bytes is ignored, as RFC 9110 section 14.2
// requires (ServeContent would answer 416); the caller's request is left
// as it was.
func serveFile(w http.ResponseWriter, r *http.Request, f *os.File, fi fs.FileInfo, name string) {
	if rng := r.Header.Get("Range"); rng != "" && !strings.HasPrefix(rng, "bytes=") {
		r = r.Clone(r.Context())
		r.Header.Del("Range")
	}
	w.Header().Set("ETag", etag(fi.Size(), fi.ModTime()))
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// etag is a strong validator: size and modification time in nanoseconds,
// both in hex, quoted.
func etag(size int64, mod time.Time) string {
	return `"` + strconv.FormatInt(size, 16) + "-" + strconv.FormatInt(mod.UnixNano(), 16) + `"`
}

// redirectToDir answers 301 to the request's path with a slash appended,
// keeping the query. The Location is relative to the last segment, so that it
// is right whatever prefix a proxy removed before the request got here.
func redirectToDir(w http.ResponseWriter, r *http.Request) {
	loc := "./" + path.Base(r.URL.EscapedPath()) + "/"
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusMovedPermanently)
}

// fail answers status with its status text as the body, and nothing that
// names a file.
func fail(w http.ResponseWriter, status int) {
	http.Error(w, http.StatusText(status), status)
}
