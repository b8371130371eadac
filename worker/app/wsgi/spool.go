package wsgi

import (
	"errors"
	"io"
	"os"
	"sync"
)

// errAbandoned: the client is gone; what the app still sends is dropped.
var errAbandoned = errors.New("the client went away")

// spool is the buffer between an app process and a client: the pump puts
// what the app sends as fast as it comes, the handler takes it as fast as
// the client reads. Data is kept in memory up to limit bytes not yet taken,
// then in an unlinked temporary file in dir; past maxSpill bytes waiting in
// that file, put blocks (the app process waits for the client, as it would
// with no buffer).
type spool struct {
	mu       sync.Mutex
	cond     *sync.Cond
	items    []spoolItem
	memBytes int64 // bytes of data items waiting
	spilled  int64 // bytes in the file waiting
	limit    int64
	maxSpill int64
	dir      string
	tmp      *os.File
	tmpEnd   int64
	done     bool
	code     byte  // END code, once done
	err      error // why the response ended early (the app process died)
	gone     bool  // the handler will take nothing more
}

// spoolItem is data (in memory or at [off, off+n) of the spill file) or a
// file the app handed over (wsgi.file_wrapper), sent from off to its end.
type spoolItem struct {
	data    []byte
	inTmp   bool
	off, n  int64
	appFile *os.File
}

func newSpool(limit, maxSpill int64, dir string) *spool {
	s := &spool{limit: limit, maxSpill: maxSpill, dir: dir}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// put appends a copy of p. It returns errAbandoned once the handler gave up,
// and the error of the spill file if writing it failed.
func (s *spool) put(p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.gone && s.memBytes+int64(len(p)) > s.limit && s.spilled > s.maxSpill {
		s.cond.Wait()
	}
	if s.gone {
		return errAbandoned
	}
	if s.memBytes+int64(len(p)) <= s.limit {
		s.items = append(s.items, spoolItem{data: append([]byte(nil), p...)})
		s.memBytes += int64(len(p))
		s.cond.Broadcast()
		return nil
	}
	if s.tmp == nil {
		f, err := os.CreateTemp(s.dir, "arbiter-wsgi-response-")
		if err != nil {
			return err
		}
		os.Remove(f.Name())
		s.tmp = f
	}
	if _, err := s.tmp.WriteAt(p, s.tmpEnd); err != nil {
		return err
	}
	if n := len(s.items); n > 0 && s.items[n-1].inTmp && s.items[n-1].off+s.items[n-1].n == s.tmpEnd {
		s.items[n-1].n += int64(len(p))
	} else {
		s.items = append(s.items, spoolItem{inTmp: true, off: s.tmpEnd, n: int64(len(p))})
	}
	s.tmpEnd += int64(len(p))
	s.spilled += int64(len(p))
	s.cond.Broadcast()
	return nil
}

// putFile appends a file to send from off to its end. The spool owns f.
func (s *spool) putFile(f *os.File, off int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		f.Close()
		return
	}
	s.items = append(s.items, spoolItem{appFile: f, off: off, n: -1})
	s.cond.Broadcast()
}

// finish marks the end of the response: code is the app's END code, err
// non-nil when the process failed before sending one.
func (s *spool) finish(code byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done, s.code, s.err = true, code, err
	s.cond.Broadcast()
}

// take returns every item waiting, blocking until there is one or the
// response is done; with wait false it does not block. done is reported
// with the last items.
func (s *spool) take(wait bool) (items []spoolItem, done bool, code byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for wait && len(s.items) == 0 && !s.done {
		s.cond.Wait()
	}
	items, s.items = s.items, nil
	s.memBytes, s.spilled = 0, 0
	s.cond.Broadcast()
	return items, s.done && len(s.items) == 0, s.code, s.err
}

// written tells the spool that the handler wrote every item it took: the
// spill file can be reused from its start when nothing waits in it.
func (s *spool) written() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.items {
		if it.inTmp {
			return
		}
	}
	s.tmpEnd = 0
}

// readItem gives a reader for an item of data in the spill file.
func (s *spool) readItem(it spoolItem) io.Reader { return io.NewSectionReader(s.tmp, it.off, it.n) }

// abandon drops what is waiting and everything put later; the pump learns
// it from put's errAbandoned.
func (s *spool) abandon() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gone = true
	for _, it := range s.items {
		if it.appFile != nil {
			it.appFile.Close()
		}
	}
	s.items = nil
	s.cond.Broadcast()
}

// close releases the spill file; call it once the handler and the pump are
// both done with the spool.
func (s *spool) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tmp != nil {
		s.tmp.Close()
		s.tmp = nil
	}
}
