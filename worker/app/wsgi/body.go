package wsgi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
)

// errBodyTooLarge: the body passed max_body_size (413).
var errBodyTooLarge = errors.New("request body too large")

// body is a request body read in full before the app sees it: in memory up
// to the buffer size, else in an unlinked temporary file. A slow client
// therefore costs the app processes nothing.
type body struct {
	mem  []byte   // the body, when it fit (from bodyBufs when pooled)
	file *os.File // the body, when it did not; offset 0
	n    int64
	pool *[]byte
}

var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// readBody reads r's body: up to memLimit bytes in memory, beyond that into
// a temporary file in dir; more than maxSize bytes (0: no limit) is
// errBodyTooLarge. A read error (the client went away, read_timeout) is
// returned as it is. A request without a body gives an empty one.
func readBody(r *http.Request, memLimit, maxSize int64, dir string) (*body, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return &body{}, nil
	}
	if maxSize > 0 && r.ContentLength > maxSize {
		return nil, errBodyTooLarge
	}
	bp := bodyBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	if r.ContentLength > 0 && r.ContentLength <= memLimit && int64(cap(buf)) < r.ContentLength {
		buf = make([]byte, 0, r.ContentLength)
	}
	b := &body{pool: bp}
	for int64(len(buf)) < memLimit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := min(int64(cap(buf)), memLimit)
		n, err := r.Body.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if maxSize > 0 && int64(len(buf)) > maxSize {
			b.release()
			return nil, errBodyTooLarge
		}
		if err == io.EOF {
			b.mem, b.n = buf, int64(len(buf))
			return b, nil
		}
		if err != nil {
			b.mem = buf
			b.release()
			return nil, err
		}
	}
	// Over memLimit: spill to a file.
	f, err := os.CreateTemp(dir, "arbiter-wsgi-body-")
	if err != nil {
		b.release()
		return nil, fmt.Errorf("request body: %w", err)
	}
	os.Remove(f.Name())
	b.file = f
	if _, err := f.Write(buf); err != nil {
		b.mem = buf
		b.release()
		return nil, fmt.Errorf("request body: %w", err)
	}
	b.mem = buf
	b.n = int64(len(buf))
	var src io.Reader = r.Body
	if maxSize > 0 {
		src = io.LimitReader(r.Body, maxSize-b.n+1)
	}
	n, err := io.Copy(f, src)
	b.n += n
	switch {
	case err != nil:
		b.release()
		return nil, err
	case maxSize > 0 && b.n > maxSize:
		b.release()
		return nil, errBodyTooLarge
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		b.release()
		return nil, fmt.Errorf("request body: %w", err)
	}
	b.releaseMem()
	return b, nil
}

func (b *body) releaseMem() {
	if b.pool != nil {
		if cap(b.mem) <= 1<<20 {
			*b.pool = b.mem[:0]
			bodyBufs.Put(b.pool)
		}
		b.pool = nil
	}
	b.mem = nil
}

// release gives back what the body holds.
func (b *body) release() {
	b.releaseMem()
	if b.file != nil {
		b.file.Close()
		b.file = nil
	}
}
