package benchkit

import (
	"fmt"
	"strings"
	"time"
)

// FmtDur formats a duration for a report: whole µs under a millisecond,
// ms with two decimals under a second, else s with two decimals; a
// negative one (a difference) with a minus sign.
func FmtDur(d time.Duration) string {
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%s%.0fµs", neg, float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%s%.2fms", neg, float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%s%.2fs", neg, d.Seconds())
}

// FirstLine is the first line of err's text, for a table cell (the rest,
// often a server's log, goes to stderr).
func FirstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
