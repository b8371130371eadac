package config

import "fmt"

// flagSet wraps set so that *was records that the file set the key: a key
// set to its zero value is then told from one left out.
func flagSet(set setter, was *bool) setter {
	return func(d *decoder, path string, v any) {
		set(d, path, v)
		*was = true
	}
}

// timeoutDefaults fills in each app's time limit the file left out. The
// precedence, for [app] and each [[mount]] alike:
//
//   - the app's own request_timeout (script_timeout for cgi);
//   - else the top-level request_timeout, when the file sets it (even to
//     "0s", which then means no limit for every app that sets none);
//   - else the type's default: 30s for wsgi, 60s script_timeout for cgi,
//     none for go, static and echo.
func timeoutDefaults(c *Config) {
	for _, a := range append([]*App{&c.App}, mountApps(c)...) {
		switch {
		case a.Type == AppCGI:
			if !a.scriptTimeoutSet && c.requestTimeoutSet {
				a.ScriptTimeout = c.RequestTimeout
			}
		case a.requestTimeoutSet:
		case c.requestTimeoutSet:
			a.RequestTimeout = c.RequestTimeout
		case a.Type == AppWSGI:
			a.RequestTimeout = DefaultRequestTimeout
		default:
			a.RequestTimeout = 0
		}
	}
}

// validateTimeouts checks the top-level request_timeout and
// slow_request_log and an app's request_timeout, which a cgi app does not
// take: its limit is script_timeout, which also ends the script.
func validateTimeouts(a *App, key string, r reporter) {
	if a.Type == AppCGI {
		if a.requestTimeoutSet {
			r.problem(key+".request_timeout", fmt.Sprintf(`is not used when the type is %q: set script_timeout, which also kills the script`, a.Type))
		}
		return
	}
	nonNegative(r, key+".request_timeout", a.RequestTimeout)
}

// forgetSet clears what flagSet recorded once defaults and validation are
// done, so that a Config is the same after the JSON trip to a worker.
func forgetSet(c *Config) {
	c.requestTimeoutSet = false
	for _, a := range append([]*App{&c.App}, mountApps(c)...) {
		a.requestTimeoutSet, a.scriptTimeoutSet = false, false
	}
}

func mountApps(c *Config) []*App {
	out := make([]*App, len(c.Mounts))
	for i := range c.Mounts {
		out[i] = &c.Mounts[i].App
	}
	return out
}
