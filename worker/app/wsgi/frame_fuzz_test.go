package wsgi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// readFrame is one frame as the fuzz tests see it.
type readFrame struct {
	kind    byte
	n       int
	payload []byte
	fd      bool // SENDFILE: a descriptor came with it
	cut     bool // the frame could not be read whole
}

// decodeFrames is the plain reading of docs' framing the frameReader must
// agree with: frames of a type byte, a little-endian u32 length and the
// payload, until the bytes run out. A control frame (anything but BODY)
// longer than maxControlPayload is an errProtocol; a frame cut short is
// io.ErrUnexpectedEOF, with what there was of a BODY's payload; no bytes
// left between frames is io.EOF.
func decodeFrames(data []byte) ([]readFrame, error) {
	var out []readFrame
	for {
		switch {
		case len(data) == 0:
			return out, io.EOF
		case len(data) < hdrLen:
			return out, io.ErrUnexpectedEOF
		}
		kind, n := data[0], int(binary.LittleEndian.Uint32(data[1:]))
		data = data[hdrLen:]
		fr := readFrame{kind: kind, n: n, cut: true}
		if kind != frameBody && n > maxControlPayload {
			return append(out, fr), errProtocol
		}
		if len(data) < n {
			if kind == frameBody {
				fr.payload = data
			}
			return append(out, fr), io.ErrUnexpectedEOF
		}
		fr.payload, data, fr.cut = data[:n], data[n:], false
		out = append(out, fr)
	}
}

// sendAll writes data to the raw socket fd, the first byte with nfds
// copies of fd attached, then closes the socket. It gives up when the
// reader closed its end.
func sendAll(sock int, data []byte, nfds, fd int) {
	defer unix.Close(sock)
	if len(data) == 0 {
		return
	}
	if nfds > 0 {
		fds := make([]int, nfds)
		for i := range fds {
			fds[i] = fd
		}
		if _, err := unix.SendmsgN(sock, data[:1], unix.UnixRights(fds...), nil, unix.MSG_NOSIGNAL); err != nil {
			return
		}
		data = data[1:]
	}
	for len(data) > 0 {
		n, err := unix.SendmsgN(sock, data, nil, nil, unix.MSG_NOSIGNAL)
		if err != nil {
			return
		}
		data = data[n:]
	}
}

// FuzzFrameReader sends bytes over a real socket pair, with up to three
// descriptors attached to the first byte, and reads them the way the
// worker does: control frames whole, BODY frames streamed, a descriptor
// taken for each SENDFILE, the buffer detached after each COMPLETE (the
// fast path). The frames read and the error that ends them must be the
// ones decodeFrames finds; SENDFILE frames get the descriptors in order
// until there are none (errProtocol, not a panic); and every descriptor
// received is closed in the end.
func FuzzFrameReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, nfds uint) {
		k := int(nfds % 4)
		if len(data) == 0 {
			k = 0 // ancillary data needs a byte to travel with
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		c, peer, err := socketPair()
		if err != nil {
			pr.Close()
			t.Fatal(err)
		}
		sent := make(chan struct{})
		go func() { defer close(sent); sendAll(peer, data, k, int(pr.Fd())) }()

		rd := newFrameReader(c)
		var got []readFrame
		var rerr error
		taken := 0
		for {
			kind, n, err := rd.header()
			if err != nil {
				rerr = err
				break
			}
			fr := readFrame{kind: kind, n: n}
			if kind == frameBody {
				err = rd.stream(n, func(p []byte) error { fr.payload = append(fr.payload, p...); return nil })
			} else {
				var p []byte
				p, err = rd.payload(n)
				fr.payload = append([]byte(nil), p...)
			}
			fr.cut = err != nil
			got = append(got, fr)
			if err != nil {
				rerr = err
				break
			}
			switch kind {
			case frameSendfile:
				fd, err := rd.takeFD()
				if err != nil && !errors.Is(err, errProtocol) {
					t.Fatalf("takeFD: %v, want errProtocol", err)
				}
				if err == nil {
					got[len(got)-1].fd = true
					taken++
					syscall.Close(fd)
				}
			case frameComplete:
				putBuf(rd.detach())
			}
		}
		left := len(rd.fds)
		rd.closeFDs()
		c.Close()
		<-sent
		rd.recycle()
		pr.Close()

		want, werr := decodeFrames(data)
		if !errors.Is(rerr, werr) {
			t.Fatalf("reading ended with %v, want %v", rerr, werr)
		}
		if len(got) != len(want) {
			t.Fatalf("read %d frames, want %d", len(got), len(want))
		}
		sendfiles := 0
		for i := range got {
			g, w := got[i], want[i]
			if g.kind != w.kind || g.n != w.n || g.cut != w.cut || !bytes.Equal(g.payload, w.payload) {
				t.Fatalf("frame %d: got %q %d cut %v %q, want %q %d cut %v %q", i, g.kind, g.n, g.cut, g.payload, w.kind, w.n, w.cut, w.payload)
			}
			if g.kind == frameSendfile && !g.cut {
				if g.fd != (sendfiles < k) {
					t.Fatalf("SENDFILE %d got a descriptor: %v, with %d sent", sendfiles, g.fd, k)
				}
				sendfiles++
			}
		}
		if taken+left != k {
			t.Fatalf("%d descriptors taken and %d left, %d sent", taken, left, k)
		}
		// Every copy of the pipe's read end is closed: writing gets EPIPE.
		if _, err := unix.Write(int(pw.Fd()), []byte{0}); !errors.Is(err, unix.EPIPE) {
			t.Fatalf("a received descriptor is still open: write to its pipe gave %v, want EPIPE", err)
		}
	})
}
