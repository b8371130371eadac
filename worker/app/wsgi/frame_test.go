package wsgi

import (
	"errors"
	"io"
	"testing"

	"golang.org/x/sys/unix"
)

// readAfterClose reads a frame from a socket whose peer wrote data and
// closed it.
func readAfterClose(t *testing.T, data []byte) error {
	t.Helper()
	c, peer, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(data) > 0 {
		if _, err := unix.Write(peer, data); err != nil {
			t.Fatal(err)
		}
	}
	unix.Close(peer)
	rd := newFrameReader(c)
	defer rd.recycle()
	_, n, err := rd.header()
	if err != nil {
		return err
	}
	_, err = rd.payload(n)
	return err
}

// End of file between frames is io.EOF; inside a frame it is
// io.ErrUnexpectedEOF (found by FuzzFrameReader: ReadMsgUnix wraps EOF, and
// a cut frame read as a clean end).
func TestFrameReaderEOF(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"nothing", nil, io.EOF},
		{"a cut header", []byte{frameLog, 1}, io.ErrUnexpectedEOF},
		{"a cut payload", []byte{frameLog, 3, 0, 0, 0, logInfo}, io.ErrUnexpectedEOF},
	} {
		if err := readAfterClose(t, tc.data); !errors.Is(err, tc.want) || tc.want == io.EOF && err != io.EOF {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := readAfterClose(t, []byte{frameLog, 1, 0, 0, 0, logInfo}); err != nil {
		t.Errorf("a whole frame: %v", err)
	}
}
