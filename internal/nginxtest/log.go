package nginxtest

import (
	"os"
	"strings"
)

// levels are nginx's error_log severities, least severe first.
var levels = []string{"debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"}

// ErrorLog returns the whole error log ("" if it cannot be read).
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(n.ErrLog)
	return string(b)
}

// Mark returns the error log's current size, for ErrorsSince.
func (n *Nginx) Mark() int64 {
	st, err := os.Stat(n.ErrLog)
	if err != nil {
		return 0
	}
	return st.Size()
}

// Errors returns the error log's lines at level "error" or worse: upstream
// failures ("upstream prematurely closed", "upstream sent invalid …"),
// refused connections, timeouts. Client aborts are logged at "info" and
// buffering to temp files at "warn", so they are not among them.
func (n *Nginx) Errors() []string { return n.ErrorsSince(0) }

// ErrorsSince is Errors for the lines written after mark (see Mark).
func (n *Nginx) ErrorsSince(mark int64) []string {
	return LinesAtLeast(n.logSince(mark), "error")
}

func (n *Nginx) logSince(mark int64) string {
	log := n.ErrorLog()
	if mark < 0 || mark > int64(len(log)) {
		mark = 0
	}
	return log[mark:]
}

// LinesAtLeast returns the lines of an nginx error log whose level
// ("2024/01/02 15:04:05 [error] …") is min or more severe. An unknown min
// is taken as "error".
func LinesAtLeast(log, min string) []string {
	minRank := rank(min)
	if minRank < 0 {
		minRank = rank("error")
	}
	var out []string
	for _, line := range strings.Split(log, "\n") {
		i := strings.IndexByte(line, '[')
		j := strings.IndexByte(line, ']')
		if i < 0 || j < i {
			continue
		}
		if r := rank(line[i+1 : j]); r >= minRank {
			out = append(out, line)
		}
	}
	return out
}

func rank(level string) int {
	for i, l := range levels {
		if l == level {
			return i
		}
	}
	return -1
}
