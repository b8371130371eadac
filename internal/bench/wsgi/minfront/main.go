// Command minfront is the least a Go HTTP front can do per request in front
// of arbiter's own WSGI runner (worker/app/wsgi/runner), run by bench-wsgi
// as a reference row. It measures what the design costs on the machine (a
// Go process between the client and the Python processes, and the framing
// to them) apart from arbiter's code: what arbiter's worker costs beyond it
// is arbiter's own work (net/http, limits, buffering, supervision), and its
// ratio to gunicorn and uWSGI is about the most any Go front with Python
// app processes behind it could show there.
//
// It is not a server to use. It starts -processes runner processes in the
// runner's "serve" mode, -threads sockets each (what arbiter's worker does
// without preload) under SCHED_BATCH, as arbiter's default sched_batch
// does, and gives itself GOMAXPROCS = half the CPUs, as arbiter's master
// gives a single worker with app processes. Per
// connection it reads HTTP/1.1 requests without a body (keep-alive), sends
// each to a free socket as a REQUEST frame with the variables arbiter sends
// for it, reads the response whole (a COMPLETE frame, or HEADERS, BODY...,
// END) and writes it to the client in one write. A request with a body, a
// line it cannot read, or a response it cannot take closes the connection
// (and, for the response, that socket: it is not used again).
// With -uwsgi it also takes nginx's uwsgi_pass on a unix socket: one
// request per connection, its variables passed to the app as nginx sent
// them (plus wsgi.url_scheme), the response in one write, then the close.
// No limits, no timeouts, no validation, no percent-decoding, no
// streaming, no supervision; errors go to stderr.
//
// Usage: minfront -addr HOST:PORT -runner arbiter_wsgi.py -module hello:application
// [-uwsgi SOCKET] [-python python3] [-dir DIR] [-processes 2] [-threads 4]
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Frame types of the runner's framing (docs/wsgi.md).
const (
	frameRequest  = 'R'
	frameReady    = 'Y'
	frameHeaders  = 'H'
	frameBody     = 'B'
	frameComplete = 'C'
	frameEnd      = 'E'
	frameLog      = 'L'
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "TCP address to listen on")
	uwsgiPath := flag.String("uwsgi", "", "unix socket path to take uwsgi on, too")
	runner := flag.String("runner", "", "the runner, worker/app/wsgi/runner/arbiter_wsgi.py")
	python := flag.String("python", "/usr/bin/python3", "Python interpreter")
	module := flag.String("module", "", "the app, gunicorn's APP_MODULE")
	dir := flag.String("dir", ".", "the processes' working directory, where the app is")
	processes := flag.Int("processes", 2, "Python processes")
	threads := flag.Int("threads", 4, "sockets (threads) per process")
	flag.Parse()
	if *runner == "" || *module == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	runtime.GOMAXPROCS(max(1, runtime.NumCPU()/2))
	free := make(chan *slot, *processes**threads)
	for range *processes {
		slots, _, err := start(*python, *runner, *module, *dir, *threads)
		if err != nil {
			fmt.Fprintln(os.Stderr, "minfront:", err)
			os.Exit(1)
		}
		for _, s := range slots {
			free <- s
		}
	}
	if *uwsgiPath != "" {
		os.Remove(*uwsgiPath)
		go accept("unix", *uwsgiPath, free, serveUwsgi)
	}
	accept("tcp", *addr, free, serveConn)
}

// accept serves connections on the address until accepting fails, which
// ends the program.
func accept(network, addr string, free chan *slot, serve func(net.Conn, chan *slot)) {
	l, err := net.Listen(network, addr)
	for err == nil {
		var c net.Conn
		if c, err = l.Accept(); err == nil {
			go serve(c, free)
		}
	}
	fmt.Fprintln(os.Stderr, "minfront:", err)
	os.Exit(1)
}

// slot is one socket to a runner thread.
type slot struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

// frame reads one frame; its payload is valid until the next call.
func (s *slot) frame() (byte, []byte, error) {
	h, err := s.r.Peek(5)
	if err != nil {
		return 0, nil, err
	}
	kind, n := h[0], int(binary.LittleEndian.Uint32(h[1:]))
	s.r.Discard(5)
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	p := s.buf[:n]
	_, err = io.ReadFull(s.r, p)
	return kind, p, err
}

// start runs one runner process with threads sockets and waits for its
// READY. The process exits when the sockets close (this program's end).
func start(python, runner, module, dir string, threads int) ([]*slot, int, error) {
	var slots []*slot
	files := []uintptr{0, 1, 2}
	var fds []int
	for range threads {
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, 0, fmt.Errorf("socketpair: %w", err)
		}
		f := os.NewFile(uintptr(p[0]), "slot")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, 0, err
		}
		slots = append(slots, &slot{c: c, r: bufio.NewReaderSize(c, 64<<10)})
		fds = append(fds, len(files))
		files = append(files, uintptr(p[1]))
	}
	cfg, _ := json.Marshal(map[string]any{"mode": "serve", "module": module, "threads": threads,
		"multiprocess": true, "sched_batch": true, "dump": -1, "slots": fds})
	pid, err := syscall.ForkExec(python, []string{python, runner}, &syscall.ProcAttr{
		Dir: dir, Env: append(os.Environ(), "ARBITER_WSGI="+string(cfg)), Files: files,
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	for _, fd := range files[3:] {
		unix.Close(int(fd))
	}
	if err != nil {
		return nil, 0, fmt.Errorf("start %s: %w", python, err)
	}
	kind, p, err := slots[0].frame()
	if err == nil && kind != frameReady {
		err = fmt.Errorf("frame %q: %s", kind, p)
	}
	if err != nil {
		return nil, pid, fmt.Errorf("runner %d did not get ready: %w", pid, err)
	}
	return slots, pid, nil
}

// serveConn answers the requests of one connection until it closes or
// sends something this program does not take.
func serveConn(c net.Conn, free chan *slot) {
	defer c.Close()
	raddr, rport, _ := net.SplitHostPort(c.RemoteAddr().String())
	_, lport, _ := net.SplitHostPort(c.LocalAddr().String())
	br := bufio.NewReaderSize(c, 4096)
	var env, hdrs, out []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		method, rest, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(" "))
		target, proto, ok := bytes.Cut(rest, []byte(" "))
		if !ok {
			return
		}
		env = append(env[:0], make([]byte, 9)...) // frame header, environ length
		env = add(env, "REQUEST_METHOD", method)
		env = add(env, "SCRIPT_NAME", nil)
		path, query, _ := bytes.Cut(target, []byte("?"))
		env = add(env, "PATH_INFO", path)
		env = add(env, "QUERY_STRING", query)
		env = add(env, "SERVER_PROTOCOL", proto)
		env = add(env, "REQUEST_URI", target)
		env = add(env, "RAW_URI", target)
		env = add(env, "GATEWAY_INTERFACE", []byte("CGI/1.1"))
		env = add(env, "SERVER_SOFTWARE", []byte("minfront"))
		keepAlive, host := true, []byte(nil)
		hdrs = hdrs[:0]
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				break
			}
			name, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimSpace(value)
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")) && string(value) != "0",
				bytes.EqualFold(name, []byte("Transfer-Encoding")):
				return // a body: not taken
			case bytes.EqualFold(name, []byte("Content-Length")):
				continue // 0: no body (wrk sends no Content-Length)
			case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
				keepAlive = false
			case bytes.EqualFold(name, []byte("Host")):
				host = value
			}
			hdrs = append(hdrs, "HTTP_"...)
			for _, b := range name {
				switch {
				case b == '-':
					b = '_'
				case 'a' <= b && b <= 'z':
					b -= 'a' - 'A'
				}
				hdrs = append(hdrs, b)
			}
			hdrs = append(hdrs, 0)
			hdrs = append(append(hdrs, value...), 0)
		}
		if h, _, err := net.SplitHostPort(string(host)); err == nil {
			host = []byte(h)
		}
		env = add(env, "SERVER_NAME", host)
		env = add(env, "SERVER_PORT", []byte(lport))
		env = add(env, "REMOTE_ADDR", []byte(raddr))
		env = add(env, "REMOTE_HOST", []byte(raddr))
		env = add(env, "REMOTE_PORT", []byte(rport))
		env = append(env, hdrs...)
		env = add(env, "wsgi.url_scheme", []byte("http"))
		if out, err = ask(free, env, out[:0]); err != nil {
			return
		}
		if _, err := c.Write(out); err != nil || !keepAlive {
			return
		}
	}
}

// serveUwsgi answers the one uwsgi request of c: a 4-byte header (modifier1,
// u16 LE size, modifier2), then size bytes of u16 LE length-prefixed
// names and values. A body is not taken.
func serveUwsgi(c net.Conn, free chan *slot) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	h, err := br.Peek(4)
	if err != nil {
		return
	}
	size := int(binary.LittleEndian.Uint16(h[1:]))
	br.Discard(4)
	vars := make([]byte, size)
	if _, err := io.ReadFull(br, vars); err != nil {
		return
	}
	env := make([]byte, 9, 9+size+64)
	for len(vars) >= 2 {
		n := int(binary.LittleEndian.Uint16(vars))
		if len(vars) < 2+n+2 {
			return
		}
		k := vars[2 : 2+n]
		vars = vars[2+n:]
		m := int(binary.LittleEndian.Uint16(vars))
		if len(vars) < 2+m {
			return
		}
		v := vars[2 : 2+m]
		vars = vars[2+m:]
		if string(k) == "CONTENT_LENGTH" && len(v) > 0 && string(v) != "0" {
			return // a body: not taken
		}
		env = append(append(append(append(env, k...), 0), v...), 0)
	}
	env = add(env, "SCRIPT_NAME", nil)
	env = add(env, "wsgi.url_scheme", []byte("http"))
	if out, err := ask(free, env, nil); err == nil {
		c.Write(out)
	}
}

// ask sends a request whose environ block follows 9 bytes of room in req
// (the frame header and the block's length) to a free slot, and appends
// the HTTP response to out. A slot whose exchange failed is closed and not
// used again: its stream may be cut inside a frame.
func ask(free chan *slot, req, out []byte) ([]byte, error) {
	req[0] = frameRequest
	binary.LittleEndian.PutUint32(req[1:], uint32(len(req)-5))
	binary.LittleEndian.PutUint32(req[5:], uint32(len(req)-9))
	s := <-free
	out, err := exchange(s, req, out)
	if err != nil {
		s.c.Close()
		fmt.Fprintln(os.Stderr, "minfront:", err)
		return out, err
	}
	free <- s
	runtime.Gosched() // a request waiting for the slot hands it its next request first
	return out, nil
}

func add(env []byte, k string, v []byte) []byte {
	env = append(append(env, k...), 0)
	return append(append(env, v...), 0)
}

// exchange sends a REQUEST frame on s and appends the HTTP response the
// app's answer makes to out.
func exchange(s *slot, req, out []byte) ([]byte, error) {
	if _, err := s.c.Write(req); err != nil {
		return out, err
	}
	var block, body []byte
	for {
		kind, p, err := s.frame()
		if err != nil {
			return out, err
		}
		switch kind {
		case frameComplete:
			if len(p) < 4 || int(binary.LittleEndian.Uint32(p)) > len(p)-4 {
				return out, errors.New("bad COMPLETE frame")
			}
			hl := int(binary.LittleEndian.Uint32(p))
			return response(out, p[4:4+hl], p[4+hl:]), nil
		case frameHeaders:
			block = append([]byte(nil), p...)
		case frameBody:
			body = append(body, p...)
		case frameEnd:
			if len(p) != 1 || p[0] != 0 || block == nil {
				return out, fmt.Errorf("the app failed (END %v)", p)
			}
			return response(out, block, body), nil
		case frameLog:
		default:
			return out, fmt.Errorf("frame %q in a response", kind)
		}
	}
}

// response appends an HTTP/1.1 response: block is the runner's "status
// NUL name NUL value ..." header block.
func response(out, block, body []byte) []byte {
	parts := bytes.Split(block, []byte{0})
	out = append(append(append(out, "HTTP/1.1 "...), parts[0]...), "\r\n"...)
	hasLength := false
	for i := 1; i+1 < len(parts); i += 2 {
		hasLength = hasLength || bytes.EqualFold(parts[i], []byte("Content-Length"))
		out = append(append(append(append(out, parts[i]...), ": "...), parts[i+1]...), "\r\n"...)
	}
	if !hasLength {
		out = append(append(append(out, "Content-Length: "...), strconv.Itoa(len(body))...), "\r\n"...)
	}
	return append(append(out, "\r\n"...), body...)
}
