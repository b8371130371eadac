package logging

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Capture reads a worker's stdout/stderr pipe until EOF and logs it through
// log (which carries the worker's pid, id and generation). A line that is a
// JSON object (the worker's own zerolog output) goes to sink as it is. Other
// output (a panic, the goroutine dump the Go runtime prints on SIGABRT, an
// application's fmt.Println) is gathered into one event per burst: lines
// that follow each other within quiet are one message, so a dump is one
// record attributed to the worker, not hundreds. Lines longer than maxLine
// are cut. Capture returns at EOF or on a read error, having flushed.
func Capture(r io.Reader, sink io.Writer, log zerolog.Logger, quiet time.Duration) {
	const maxLine, maxBurst = 64 << 10, 1 << 20
	lines := make(chan []byte, 64)
	go func() {
		defer close(lines)
		br := bufio.NewReaderSize(r, maxLine)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				lines <- bytes.Clone(line)
			}
			if err != nil && err != bufio.ErrBufferFull {
				return
			}
		}
	}()
	var burst strings.Builder
	flush := func() {
		if burst.Len() == 0 {
			return
		}
		log.Warn().Str("stream", "output").Msg(strings.TrimRight(burst.String(), "\n"))
		burst.Reset()
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				flush()
				return
			}
			if isJSONObject(line) && burst.Len() == 0 {
				_, _ = sink.Write(line)
				continue
			}
			burst.Write(line)
			if line[len(line)-1] != '\n' {
				burst.WriteByte('\n')
			}
			if burst.Len() >= maxBurst {
				flush()
			}
			timer.Reset(quiet)
		case <-timer.C:
			flush()
		}
	}
}

func isJSONObject(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) >= 2 && t[0] == '{' && t[len(t)-1] == '}' && line[len(line)-1] == '\n'
}
