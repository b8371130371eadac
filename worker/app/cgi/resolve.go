package cgi

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// call is one dispatch of a request: the original one, or one reached by a
// local redirect.
type call struct {
	r     *http.Request
	front map[string]string // the front end's CGI variables (FastCGI, SCGI, uwsgi); nil over HTTP
	// redirects counts the local redirects that led here; 0 for the
	// original request. A redirected call takes its path from r, never
	// from the front end's SCRIPT_FILENAME, SCRIPT_NAME or PATH_INFO.
	redirects int
	origURI   string // REQUEST_URI of the original request, when redirected
}

// target is the script a call runs.
type target struct {
	filename   string   // SCRIPT_FILENAME: the absolute path run
	argv       []string // interpreter and arguments, then filename; or filename alone
	scriptName string   // SCRIPT_NAME
	pathInfo   string   // PATH_INFO (decoded)
	docRoot    string   // DOCUMENT_ROOT: the root, or the script's directory
	keepFront  bool     // SCRIPT_NAME, PATH_INFO and PATH_TRANSLATED come from the front end as sent
	nph        bool     // the name starts with "nph-"
}

// resolve finds the script c runs. On failure it returns the status to
// answer (400, 403 or 404) and a reason for the debug log.
//
//   - With Script, that program runs. Its SCRIPT_NAME and PATH_INFO are the
//     front end's when it sent SCRIPT_NAME; otherwise the prefix and the
//     rest of the path (404 outside the prefix).
//   - With Root and a SCRIPT_FILENAME from the front end, that file runs if
//     it lies inside Root; the front end's SCRIPT_NAME and PATH_INFO are
//     kept.
//   - With Root otherwise, the path under the prefix (the front end's
//     SCRIPT_NAME+PATH_INFO when it sent SCRIPT_NAME, else the request
//     path) is walked from Root, one segment at a time, to the first
//     regular file: that is the script, and the rest of the path is
//     PATH_INFO.
func (h *Handler) resolve(c *call) (t *target, code int, why string) {
	fromFront := c.front != nil && c.redirects == 0
	if fromFront && h.root != "" {
		if sf, ok := c.front["SCRIPT_FILENAME"]; ok && sf != "" {
			return h.resolveFilename(sf)
		}
	}
	path := c.r.URL.Path
	if fromFront {
		if sn, ok := c.front["SCRIPT_NAME"]; ok {
			if h.script != "" {
				return h.scriptTarget(sn, c.front["PATH_INFO"], true)
			}
			path = sn + c.front["PATH_INFO"]
		}
	} else if raw := c.r.URL.RawPath; raw != "" && strings.Contains(strings.ToLower(raw), "%2f") {
		// As Apache with AllowEncodedSlashes Off: an encoded slash cannot
		// be told apart from a real one once decoded.
		return nil, http.StatusNotFound, "encoded slash in the path"
	}
	if strings.IndexByte(path, 0) >= 0 {
		return nil, http.StatusBadRequest, "NUL in the path"
	}
	rest, ok := h.underPrefix(path)
	if !ok {
		return nil, http.StatusNotFound, "outside the prefix"
	}
	if h.script != "" {
		if hasDotSegment(rest, false) {
			return nil, http.StatusNotFound, `"." or ".." segment in the path`
		}
		return h.scriptTarget(h.prefix, rest, false)
	}
	return h.walk(rest)
}

// underPrefix returns the part of path after the prefix, which is "" or
// starts with "/", and whether path is under the prefix at all.
func (h *Handler) underPrefix(path string) (string, bool) {
	if h.prefix == "" {
		return path, path == "" || path[0] == '/' // not "*" (OPTIONS *)
	}
	rest, ok := strings.CutPrefix(path, h.prefix)
	if !ok || rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// scriptTarget is the target for Script.
func (h *Handler) scriptTarget(scriptName, pathInfo string, keepFront bool) (*target, int, string) {
	fi, err := os.Stat(h.script)
	if err != nil {
		return nil, http.StatusNotFound, "script: " + err.Error()
	}
	argv, code, why := h.command(h.script, fi)
	if code != 0 {
		return nil, code, why
	}
	return &target{
		filename:   h.script,
		argv:       argv,
		scriptName: scriptName,
		pathInfo:   pathInfo,
		docRoot:    filepath.Dir(h.script),
		keepFront:  keepFront,
		nph:        strings.HasPrefix(filepath.Base(h.script), "nph-"),
	}, 0, ""
}

// walk finds the script for rest (the path under the prefix) in the root.
// Empty segments before the script are skipped; a segment that starts with
// "." (".", "..", dotfiles) is 404 there, and "." and ".." are 404 in
// PATH_INFO too. A symlink that leaves the root is 404 (os.Root).
func (h *Handler) walk(rest string) (*target, int, string) {
	var rel strings.Builder
	i := 0
	for i < len(rest) {
		if rest[i] == '/' {
			i++
			continue
		}
		end := strings.IndexByte(rest[i:], '/')
		if end < 0 {
			end = len(rest)
		} else {
			end += i
		}
		seg := rest[i:end]
		if seg[0] == '.' {
			return nil, http.StatusNotFound, "dot segment or dotfile in the script path"
		}
		if strings.IndexByte(seg, '\\') >= 0 {
			return nil, http.StatusNotFound, "backslash in the script path"
		}
		checked := rel.Len()
		if checked > 0 {
			rel.WriteByte('/')
		}
		rel.WriteString(seg)
		fi, err := h.statInRoot(rel.String(), checked)
		if err != nil {
			return nil, statError(err), "stat: " + err.Error()
		}
		if fi.IsDir() {
			i = end
			continue
		}
		if !fi.Mode().IsRegular() {
			return nil, http.StatusNotFound, "not a regular file"
		}
		pathInfo := rest[end:]
		if hasDotSegment(pathInfo, false) {
			return nil, http.StatusNotFound, `"." or ".." segment in PATH_INFO`
		}
		filename := filepath.Join(h.root, rel.String())
		argv, code, why := h.command(filename, fi)
		if code != 0 {
			return nil, code, why
		}
		return &target{
			filename:   filename,
			argv:       argv,
			scriptName: h.prefix + "/" + rel.String(),
			pathInfo:   pathInfo,
			docRoot:    h.root,
			nph:        strings.HasPrefix(seg, "nph-"),
		}, 0, ""
	}
	return nil, http.StatusNotFound, "no script in the path (a directory)"
}

// resolveFilename is the target for a SCRIPT_FILENAME the front end sent:
// an absolute path inside the root, without dot segments or dotfiles,
// naming a regular file exactly (no PATH_INFO is split off it).
func (h *Handler) resolveFilename(sf string) (*target, int, string) {
	if !filepath.IsAbs(sf) {
		return nil, http.StatusNotFound, "SCRIPT_FILENAME is not absolute"
	}
	if strings.IndexByte(sf, 0) >= 0 {
		return nil, http.StatusBadRequest, "NUL in SCRIPT_FILENAME"
	}
	if hasDotSegment(sf, true) {
		return nil, http.StatusNotFound, "dot segment or dotfile in SCRIPT_FILENAME"
	}
	clean := filepath.Clean(sf)
	rel, ok := strings.CutPrefix(clean, h.root)
	if h.root == "/" {
		rel, ok = clean, true
	}
	if !ok || rel == "" || rel[0] != '/' {
		return nil, http.StatusNotFound, "SCRIPT_FILENAME outside the root"
	}
	fi, err := h.statInRoot(rel[1:], 0)
	if err != nil {
		return nil, statError(err), "stat: " + err.Error()
	}
	if !fi.Mode().IsRegular() {
		return nil, http.StatusNotFound, "SCRIPT_FILENAME is not a regular file"
	}
	argv, code, why := h.command(clean, fi)
	if code != 0 {
		return nil, code, why
	}
	return &target{
		filename:  clean,
		argv:      argv,
		docRoot:   h.root,
		keepFront: true,
		nph:       strings.HasPrefix(filepath.Base(clean), "nph-"),
	}, 0, ""
}

// statInRoot stats rel, a slash-separated path under the root without
// empty, "." or ".." segments, and refuses to follow a symlink out of the
// root. The first checked bytes of rel (0, or the index of a "/") are
// directories found to be inside the root already and are not looked at
// again.
//
// Each further segment is lstat'd by its path, one syscall and no fd each
// (a script directly in the root costs one); the root's own path is
// resolved afresh every time, so a deploy that swaps a symlink above it
// takes effect with the next request. A segment that is a symlink hands
// the whole of rel to os.Root, which follows links that stay inside the
// root and refuses the others. As with any check by path, a directory
// swapped for a symlink between the check and the exec is not caught:
// the root must not be writable by those the scripts guard against.
func (h *Handler) statInRoot(rel string, checked int) (fs.FileInfo, error) {
	i := checked
	if i > 0 {
		i++ // past the "/"
	}
	for {
		end := len(rel)
		if j := strings.IndexByte(rel[i:], '/'); j >= 0 {
			end = i + j
		}
		fi, err := os.Lstat(h.root + "/" + rel[:end])
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			root, err := os.OpenRoot(h.root)
			if err != nil {
				return nil, err
			}
			defer root.Close()
			return root.Stat(rel)
		}
		if end == len(rel) {
			return fi, nil
		}
		if !fi.IsDir() {
			return nil, &fs.PathError{Op: "stat", Path: rel, Err: syscall.ENOTDIR}
		}
		i = end + 1
	}
}

// command returns the argv that runs the script at filename: through the
// interpreter for its extension, or directly if it is executable. A script
// whose extension is not allowed, or that is neither, gets 403.
func (h *Handler) command(filename string, fi fs.FileInfo) ([]string, int, string) {
	ext := filepath.Ext(filename)
	if h.exts != nil && !h.exts[ext] {
		return nil, http.StatusForbidden, "extension not allowed"
	}
	if in, ok := h.interp[ext]; ok {
		return append(append(make([]string, 0, len(in)+1), in...), filename), 0, ""
	}
	if fi.Mode()&0o111 == 0 {
		return nil, http.StatusForbidden, "not executable and no interpreter for its extension"
	}
	return []string{filename}, 0, ""
}

// hasDotSegment reports whether p has a "." or ".." segment, or with
// dotfiles any segment that starts with ".".
func hasDotSegment(p string, dotfiles bool) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." || dotfiles && strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// statError maps a failed stat inside the root to a status: 403 for a
// permission problem, else 404 (missing, a path through a file, a symlink
// that leaves the root or loops, a name too long).
func statError(err error) int {
	if errors.Is(err, fs.ErrPermission) {
		return http.StatusForbidden
	}
	return http.StatusNotFound
}
