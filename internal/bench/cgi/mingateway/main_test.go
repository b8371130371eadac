package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// pair encodes one FastCGI name-value pair with short lengths.
func pair(name, value string) []byte {
	return append([]byte{byte(len(name)), byte(len(value))}, name+value...)
}

// conn is a request on one side and what serve writes on the other.
type conn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *conn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *conn) Write(p []byte) (int, error) { return c.out.Write(p) }

func TestServe(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "hello.sh")
	body := "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello %s\\n' \"$QUERY_STRING\"\necho oops >&2\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	devNull, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(devNull)

	var req []byte
	req = appendRecord(req, typeBeginRequest, 1, []byte{0, 1, 0, 0, 0, 0, 0, 0})
	req = appendRecord(req, typeParams, 1, append(pair("SCRIPT_FILENAME", script), pair("QUERY_STRING", "world")...))
	req = appendRecord(req, typeParams, 1, nil)
	req = appendRecord(req, typeStdin, 1, nil)
	c := &conn{in: bytes.NewReader(req)}
	if err := serve(c, devNull); err != nil {
		t.Fatal(err)
	}

	var stdout []byte
	var types []byte
	b := c.out.Bytes()
	for len(b) >= 8 {
		n, pad := int(binary.BigEndian.Uint16(b[4:6])), int(b[6])
		types = append(types, b[1])
		if b[1] == typeStdout {
			stdout = append(stdout, b[8:8+n]...)
		}
		b = b[8+n+pad:]
	}
	if want := "Content-Type: text/plain\n\nhello world\n"; string(stdout) != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	if want := []byte{typeStdout, typeStdout, typeEndRequest}; !bytes.Equal(types, want) || len(b) != 0 {
		t.Errorf("record types %v (+%d bytes), want %v", types, len(b), want)
	}
}

func TestParseParamsErrors(t *testing.T) {
	for _, b := range [][]byte{{0x80, 0}, {5, 1, 'a'}, pair("QUERY_STRING", "")} {
		if _, _, err := parseParams(b); err == nil {
			t.Errorf("parseParams(%q): no error", b)
		}
	}
}
