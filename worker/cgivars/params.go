package cgivars

import "strings"

// Mergeable reports whether repeated values of the CGI variable name are
// joined into one: an HTTP_* variable other than HTTP_HOST. nginx before
// 1.23 sends one such variable per header line when a client repeats a
// header (two X-Forwarded-For or Cookie lines), and RFC 3875 §4.1.18 says
// they are to be combined into one.
func Mergeable(name string) bool {
	return strings.HasPrefix(name, "HTTP_") && name != "HTTP_HOST"
}

// AddParam records one variable as a front end sent it. A repeated
// Mergeable variable is joined to the earlier value with ", " ("; " for
// HTTP_COOKIE, the separator of the Cookie header); any other repeated
// variable keeps its last value, as PHP-FPM and uWSGI do (nginx sends both
// when a *_param overrides one from an included file).
func AddParam(env map[string]string, name, value string) {
	if old, dup := env[name]; dup && Mergeable(name) {
		sep := ", "
		if name == "HTTP_COOKIE" {
			sep = "; "
		}
		value = old + sep + value
	}
	env[name] = value
}
