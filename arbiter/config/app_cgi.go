package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// maxScripts is the largest [app] max_scripts.
const maxScripts = 65535

// validateCGI checks the [app] keys of type "cgi" (docs/cgi.md). With another
// type, only script is checked: it means nothing there, and a config that
// sets it has most likely the wrong type.
func validateCGI(a *App, key string, r reporter) {
	if a.Type != AppCGI {
		if a.Script != "" {
			r.problem(key+".script", fmt.Sprintf(`is only used when the type is "cgi", not %q`, a.Type))
		}
		return
	}
	switch {
	case a.Script != "" && a.Root != "":
		r.problem(key+".script", "set either script (one program) or root (a directory of scripts), not both")
	case a.Script == "" && a.Root == "":
		r.problem(key+".type", `"cgi" needs script (one program for every request) or root (a directory of scripts)`)
	case a.Script != "":
		checkScript(a, key, r)
	}
	checkPrefix(r, key+".prefix", a.Prefix)

	exts := make([]string, 0, len(a.Interpreters))
	for ext := range a.Interpreters {
		exts = append(exts, ext)
	}
	sort.Strings(exts)
	for _, ext := range exts {
		key := joinKey(key+".interpreters", ext)
		if !validExtension(ext) || ext == "" {
			r.problem(key, fmt.Sprintf(`must be a file extension with its dot, like ".py", got %q`, ext))
			continue
		}
		if err := checkInterpreter(a.Interpreters[ext]); err != nil {
			r.problem(key, err.Error())
		}
	}
	for i, ext := range a.Extensions {
		if !validExtension(ext) {
			r.problem(fmt.Sprintf("%s.extensions[%d]", key, i), fmt.Sprintf(`must be a file extension with its dot, like ".cgi", or "" for files without one; got %q`, ext))
		}
	}
	if a.Workdir != "" {
		switch fi, err := os.Stat(a.Workdir); {
		case !filepath.IsAbs(a.Workdir):
			r.problem(key+".workdir", fmt.Sprintf("must be an absolute path, got %q", a.Workdir))
		case err != nil:
			r.problem(key+".workdir", fmt.Sprintf("cannot use %q: %v", a.Workdir, unwrapPathError(err)))
		case !fi.IsDir():
			r.problem(key+".workdir", fmt.Sprintf("%q is not a directory", a.Workdir))
		}
	}
	for i, name := range a.PassEnv {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			r.problem(fmt.Sprintf("%s.pass_env[%d]", key, i), fmt.Sprintf(`must be an environment variable name, like "PATH", got %q`, name))
		}
	}
	nonNegative(r, key+".script_timeout", a.ScriptTimeout)
	intRange(r, key+".max_scripts", a.MaxScripts, 1, maxScripts)
	nonNegative(r, key+".max_scripts_wait", a.MaxScriptsWait)
}

// checkScript checks [app] script: an absolute path to a regular file that
// can be run, directly or through an interpreter for its extension.
func checkScript(a *App, key string, r reporter) {
	fi, err := os.Stat(a.Script)
	ext := filepath.Ext(a.Script)
	switch {
	case !filepath.IsAbs(a.Script):
		r.problem(key+".script", fmt.Sprintf("must be an absolute path, got %q", a.Script))
	case errors.Is(err, fs.ErrNotExist):
		r.problem(key+".script", fmt.Sprintf("%q does not exist", a.Script))
	case err != nil:
		r.problem(key+".script", fmt.Sprintf("cannot use %q: %v", a.Script, unwrapPathError(err)))
	case !fi.Mode().IsRegular():
		r.problem(key+".script", fmt.Sprintf("%q is not a regular file", a.Script))
	case fi.Mode()&0o111 == 0 && a.Interpreters[ext] == "":
		r.problem(key+".script", fmt.Sprintf("%q is not executable: chmod +x it, or set an interpreter for %q in %s.interpreters", a.Script, ext, key))
	case len(a.Extensions) > 0 && !slices.Contains(a.Extensions, ext):
		r.problem(key+".script", fmt.Sprintf("%q has an extension (%q) that %s.extensions does not allow", a.Script, ext, key))
	}
}

// checkPrefix checks a URL prefix: an absolute URL path without empty, "."
// or ".." segments, query, fragment, NUL or backslash.
func checkPrefix(r reporter, key, p string) {
	bad := func(why string) {
		r.problem(key, fmt.Sprintf(`must be a URL path like "/" or "/cgi-bin/": %s; got %q`, why, p))
	}
	switch {
	case !strings.HasPrefix(p, "/"):
		bad(`it must start with "/"`)
		return
	case strings.ContainsAny(p, "?#\\\x00"):
		bad(`"?", "#", "\" and NUL are not allowed`)
		return
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p[1:], "/"), "/") {
		if p != "/" && (seg == "" || seg == "." || seg == "..") {
			bad(`empty, "." and ".." segments are not allowed`)
			return
		}
	}
}

// validExtension reports whether ext is "" or a dot followed by a name
// without dots, slashes or NUL (what filepath.Ext returns).
func validExtension(ext string) bool {
	if ext == "" {
		return true
	}
	return len(ext) > 1 && ext[0] == '.' && !strings.ContainsAny(ext[1:], "./\\\x00")
}

// checkInterpreter checks an [app.interpreters] value: a program (found in
// PATH, or an absolute path) and optional arguments, separated by spaces.
func checkInterpreter(cmd string) error {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return errors.New(`must name a program, like "python3" or "/usr/bin/perl -T"`)
	}
	prog := f[0]
	if strings.Contains(prog, "/") && !filepath.IsAbs(prog) {
		return fmt.Errorf("the program must be a name looked up in PATH or an absolute path, got %q", prog)
	}
	if _, err := exec.LookPath(prog); err != nil {
		if filepath.IsAbs(prog) {
			return fmt.Errorf("%q is not an executable file", prog)
		}
		return fmt.Errorf("program %q not found in PATH", prog)
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func boolKey(dst *bool) setter {
	return func(d *decoder, path string, v any) {
		b, ok := v.(bool)
		if !ok {
			d.valueProblem(path, "must be true or false, got "+describe(v))
			return
		}
		*dst = b
	}
}

// stringMapKey decodes a table of strings ([app.interpreters]) with keys
// of any name. An entry that is not a string is a problem and left out.
func stringMapKey(dst *map[string]string) setter {
	return func(d *decoder, path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			d.valueProblem(path, fmt.Sprintf("must be a table ([%s]) of strings, got %s", path, describe(v)))
			return
		}
		out := make(map[string]string, len(m))
		for k, e := range m {
			s, ok := e.(string)
			if !ok {
				d.valueProblem(joinKey(path, k), "must be a string, got "+describe(e))
				continue
			}
			out[k] = s
		}
		*dst = out // the good entries, so that validate checks them too
	}
}
