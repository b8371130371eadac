package worker

import (
	"bytes"
	"runtime"
	"strconv"
)

// maxStacks bounds the buffer for a dump of every goroutine.
const maxStacks = 64 << 20

// goid returns the id of the calling goroutine, as its stack trace names it
// ("goroutine 42 [running]:"); 0 if that cannot be read.
func goid() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, ok := bytes.CutPrefix(b, []byte("goroutine "))
	if !ok {
		return 0
	}
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// goroutineStack returns the stack of goroutine id, cut from a dump of every
// goroutine (runtime.Stack stops the world for it, briefly); "" when there
// is no such goroutine any more.
func goroutineStack(id int64) string {
	size := 1 << 20
	var all []byte
	for {
		all = make([]byte, size)
		n := runtime.Stack(all, true)
		if n < size || size >= maxStacks {
			all = all[:n]
			break
		}
		size *= 2
	}
	head := []byte("goroutine " + strconv.FormatInt(id, 10) + " [")
	i := 0
	if !bytes.HasPrefix(all, head) {
		i = bytes.Index(all, append([]byte("\n\n"), head...))
		if i < 0 {
			return ""
		}
		i += 2
	}
	s := all[i:]
	if j := bytes.Index(s, []byte("\n\n")); j >= 0 {
		s = s[:j]
	}
	return string(s)
}
