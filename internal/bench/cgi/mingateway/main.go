// Command mingateway is the least a Go FastCGI-to-CGI gateway can do per
// request, run by bench-cgi as a reference row: what arbiter's worker
// costs beyond it is arbiter's own work, and its ratio to fcgiwrap is the
// most any Go gateway could show on the machine.
//
// It is not a server to use. Per connection it reads one request's
// BEGIN_REQUEST and PARAMS up to the empty STDIN record (a body is
// discarded: the script reads /dev/null), runs SCRIPT_FILENAME with the
// params and PATH as its environment in its own process group, as arbiter
// does (syscall.ForkExec: clone(CLONE_VFORK) and execve), passes stdout to
// the web server unparsed in STDOUT records (nginx parses the CGI header
// itself), drops stderr, reaps the script, sends END_REQUEST and closes.
// No limits, no timeouts, no validation, no logging.
//
// Usage: mingateway SOCKET (a unix socket path).
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// FastCGI record types used here.
const (
	typeBeginRequest = 1
	typeEndRequest   = 3
	typeParams       = 4
	typeStdin        = 5
	typeStdout       = 6
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mingateway SOCKET")
		os.Exit(2)
	}
	fmt.Fprintln(os.Stderr, "mingateway:", run(os.Args[1]))
	os.Exit(1)
}

// run serves on the unix socket path until accepting fails.
func run(path string) error {
	devNull, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			if err := serve(c, devNull); err != nil {
				fmt.Fprintln(os.Stderr, "mingateway:", err)
			}
		}()
	}
}

// serve answers the one request on c.
func serve(c io.ReadWriter, devNull int) error {
	id, env, script, err := readRequest(bufio.NewReader(c))
	if err != nil {
		return err
	}
	out, err := runScript(script, env, devNull)
	if err != nil {
		out = []byte("Status: 502 Bad Gateway\r\n\r\n")
	}
	var rec []byte
	for len(out) > 0 {
		n := min(len(out), 0xffff)
		rec = appendRecord(rec, typeStdout, id, out[:n])
		out = out[n:]
	}
	rec = appendRecord(rec, typeStdout, id, nil)
	rec = appendRecord(rec, typeEndRequest, id, make([]byte, 8)) // app status 0, request complete
	_, werr := c.Write(rec)
	if err != nil {
		return err
	}
	return werr
}

// readRequest reads records up to the empty STDIN record and returns the
// request id, the params as an environment, and SCRIPT_FILENAME.
func readRequest(br *bufio.Reader) (id uint16, env []string, script string, err error) {
	var params []byte
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return 0, nil, "", fmt.Errorf("read record: %w", err)
		}
		typ, n, pad := hdr[1], int(binary.BigEndian.Uint16(hdr[4:6])), int(hdr[6])
		id = binary.BigEndian.Uint16(hdr[2:4])
		content := make([]byte, n+pad)
		if _, err := io.ReadFull(br, content); err != nil {
			return 0, nil, "", fmt.Errorf("read record: %w", err)
		}
		switch {
		case typ == typeParams:
			params = append(params, content[:n]...)
		case typ == typeStdin && n == 0:
			env, script, err = parseParams(params)
			return id, env, script, err
		}
	}
}

// parseParams decodes FastCGI name-value pairs into "NAME=value" strings,
// with PATH added, and returns SCRIPT_FILENAME's value.
func parseParams(b []byte) (env []string, script string, err error) {
	for len(b) > 0 {
		nameLen, k, ok := pairLen(b)
		if !ok {
			return nil, "", fmt.Errorf("malformed params")
		}
		b = b[k:]
		valueLen, k, ok := pairLen(b)
		if !ok || len(b)-k < nameLen+valueLen {
			return nil, "", fmt.Errorf("malformed params")
		}
		b = b[k:]
		name, value := string(b[:nameLen]), string(b[nameLen:nameLen+valueLen])
		b = b[nameLen+valueLen:]
		env = append(env, name+"="+value)
		if name == "SCRIPT_FILENAME" {
			script = value
		}
	}
	if script == "" {
		return nil, "", fmt.Errorf("no SCRIPT_FILENAME")
	}
	return append(env, "PATH="+os.Getenv("PATH")), script, nil
}

// pairLen decodes one length of a name-value pair: one byte, or four with
// the high bit set.
func pairLen(b []byte) (n, size int, ok bool) {
	switch {
	case len(b) >= 1 && b[0]>>7 == 0:
		return int(b[0]), 1, true
	case len(b) >= 4:
		return int(binary.BigEndian.Uint32(b) & 0x7fffffff), 4, true
	}
	return 0, 0, false
}

// runScript runs script and returns its stdout.
func runScript(script string, env []string, devNull int) ([]byte, error) {
	var outP, errP [2]int
	if err := syscall.Pipe2(outP[:], syscall.O_CLOEXEC); err != nil {
		return nil, err
	}
	if err := syscall.Pipe2(errP[:], syscall.O_CLOEXEC); err != nil {
		syscall.Close(outP[0])
		syscall.Close(outP[1])
		return nil, err
	}
	syscall.SetNonblock(outP[0], true)
	syscall.SetNonblock(errP[0], true)
	stdout := os.NewFile(uintptr(outP[0]), "stdout")
	stderr := os.NewFile(uintptr(errP[0]), "stderr")
	defer stdout.Close()
	pid, err := syscall.ForkExec(script, []string{script}, &syscall.ProcAttr{
		Dir:   filepath.Dir(script),
		Env:   env,
		Files: []uintptr{uintptr(devNull), uintptr(outP[1]), uintptr(errP[1])},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	syscall.Close(outP[1])
	syscall.Close(errP[1])
	if err != nil {
		stderr.Close()
		return nil, fmt.Errorf("run %s: %w", script, err)
	}
	go func() {
		_, _ = io.Copy(io.Discard, stderr)
		stderr.Close()
	}()
	out, rerr := io.ReadAll(stdout)
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
			break
		}
	}
	return out, rerr
}

// appendRecord appends one record of type typ with content, padded to 8.
func appendRecord(b []byte, typ byte, id uint16, content []byte) []byte {
	pad := -len(content) & 7
	b = append(b, 1, typ, byte(id>>8), byte(id), byte(len(content)>>8), byte(len(content)), byte(pad), 0)
	b = append(b, content...)
	return append(b, make([]byte, pad)...)
}
