package fastcgi

import (
	"errors"
	"os"
	"time"
)

// A nudge tells a web server that pools FastCGI connections (KEEP_CONN) to
// stop using one, which FastCGI itself has no record for. Closing an idle
// pooled connection races the request the web server may be writing on it
// at that instant: nginx then answers 502 and, for a POST, does not retry.
//
// The nudge is an empty FCGI_STDERR record for the connection's last
// request id, sent when the connection is idle, or in the same write as an
// END_REQUEST. nginx closes a pooled connection on which anything arrives
// while it is idle (its keepalive module peeks at idle connections), and
// does not pool a connection whose END_REQUEST is followed by more bytes.
// If instead its next request crossed the nudge, nginx reads the empty
// STDERR record as the first of the response, skips it, and gets its
// answer: the connection keeps being served, and is nudged again after it.
// So arbiter never closes a pooled connection under the web server: it
// nudges, and waits up to nudgeWait for the peer to close it.
//
// Where a connection is nudged: when its idle timeout passes (instead of
// closing it at once), when a drain begins while it is idle, and after each
// response during a drain. A peer that multiplexes is never nudged.

// appendNudge appends the nudge record for request id.
func appendNudge(dst []byte, id uint16) []byte {
	return appendHeader(dst, typeStderr, id, 0)
}

// canNudgeLocked reports whether an idle connection should be nudged
// rather than closed: the peer pooled it, it is idle and not yet nudged.
// c.mu is held.
func (c *conn) canNudgeLocked() bool {
	return c.lastKeep && !c.mpx && !c.nudged && c.active == 0 && !c.closing && !c.closeAfter
}

// nudgeIdle sends the nudge on an idle connection whose read deadline
// passed and reports whether it did; the connection then waits nudgeWait
// for the peer to close it or send a request. When it reports false the
// caller closes the connection.
func (c *conn) nudgeIdle() bool {
	c.mu.Lock()
	ok := c.canNudgeLocked()
	if ok {
		c.nudged = true
	}
	id := c.lastID
	c.mu.Unlock()
	if !ok {
		return false
	}
	var rec [headerLen]byte
	if c.writeRecord(nil, appendNudge(rec[:0], id)) != nil {
		return false
	}
	return c.nc.SetReadDeadline(time.Now().Add(nudgeWait)) == nil
}

// nudgeAfterLocked reports whether the END_REQUEST of a request with the
// given KEEP_CONN flag should carry a nudge: during a drain, or when the
// connection closes after it, on a connection the peer pools, when it is
// the only active request. c.mu is held.
func (c *conn) nudgeAfterLocked(keep bool) bool {
	return keep && !c.mpx && c.active == 1 && (c.shutdown || c.closeAfter)
}

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
