package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sort"
	"time"
)

// rawGet sends GET uri over proto (fastcgi, scgi, uwsgi) to addr, the
// way a web server in front would, and returns the whole response as the
// server wrote it: CGI-style headers ("Status: 504 ...") for FastCGI and
// SCGI, an HTTP status line for uwsgi.
func rawGet(proto, addr, uri string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	vars := map[string]string{"REQUEST_METHOD": "GET", "REQUEST_URI": uri, "SCRIPT_NAME": "", "PATH_INFO": uri,
		"QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
		"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost", "CONTENT_LENGTH": "0"}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	var req bytes.Buffer
	switch proto {
	case "scgi":
		hdr := "CONTENT_LENGTH\x000\x00SCGI\x001\x00"
		for _, k := range names {
			if k != "CONTENT_LENGTH" {
				hdr += k + "\x00" + vars[k] + "\x00"
			}
		}
		fmt.Fprintf(&req, "%d:%s,", len(hdr), hdr)
	case "uwsgi":
		var body bytes.Buffer
		for _, k := range names {
			binary.Write(&body, binary.LittleEndian, uint16(len(k)))
			body.WriteString(k)
			binary.Write(&body, binary.LittleEndian, uint16(len(vars[k])))
			body.WriteString(vars[k])
		}
		req.WriteByte(0)
		binary.Write(&req, binary.LittleEndian, uint16(body.Len()))
		req.WriteByte(0)
		req.Write(body.Bytes())
	case "fastcgi":
		var params bytes.Buffer
		for _, k := range names {
			params.WriteByte(byte(len(k)))
			params.WriteByte(byte(len(vars[k])))
			params.WriteString(k + vars[k])
		}
		req.Write(fcgiRecord(1, []byte{0, 1, 0, 0, 0, 0, 0, 0})) // BEGIN_REQUEST, responder
		req.Write(fcgiRecord(4, params.Bytes()))
		req.Write(fcgiRecord(4, nil))
		req.Write(fcgiRecord(5, nil)) // empty STDIN
	default:
		return "", fmt.Errorf("rawGet: unknown protocol %q", proto)
	}
	if _, err := c.Write(req.Bytes()); err != nil {
		return "", err
	}
	if proto != "fastcgi" {
		b, err := io.ReadAll(c)
		return string(b), err
	}
	var out bytes.Buffer
	for {
		var h [8]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			return out.String(), fmt.Errorf("fastcgi: no END_REQUEST: %w", err)
		}
		content := make([]byte, int(binary.BigEndian.Uint16(h[4:6]))+int(h[6]))
		if _, err := io.ReadFull(c, content); err != nil {
			return out.String(), err
		}
		switch h[1] {
		case 6: // STDOUT
			out.Write(content[:binary.BigEndian.Uint16(h[4:6])])
		case 3: // END_REQUEST
			return out.String(), nil
		}
	}
}

// fcgiRecord is one FastCGI record of request 1.
func fcgiRecord(typ byte, content []byte) []byte {
	h := []byte{1, typ, 0, 1, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(h[4:6], uint16(len(content)))
	return append(h, content...)
}
