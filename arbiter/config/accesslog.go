package config

import (
	"errors"

	"github.com/arbiter-dev/arbiter/worker/accessfmt"
)

// validateAccessLogFormat compiles log.access_log_format, so that an
// unknown atom or an unbalanced "%(" is a problem at the key; the message
// says at which byte of the format.
func validateAccessLogFormat(l Log, r reporter) {
	if l.AccessLogFormat == "" {
		return
	}
	if _, err := accessfmt.Compile(l.AccessLogFormat); err != nil {
		var se *accessfmt.SyntaxError
		if errors.As(err, &se) {
			r.problem("log.access_log_format", "format "+se.Error())
			return
		}
		r.problem("log.access_log_format", err.Error())
	}
}
