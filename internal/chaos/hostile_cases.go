package chaos

import (
	"strconv"
	"strings"
)

// hostileCase is one connection's worth of hostile bytes for a listener.
// After sending them the client half-closes, so a server that waits for
// more sees the end of the stream instead of waiting for a timeout.
type hostileCase struct {
	proto string // the listener: http, fastcgi, scgi, uwsgi
	name  string
	send  []byte
	// lenient: a 2xx answer is acceptable too, because the input is
	// unusual but has one safe meaning (why says which).
	lenient string
	control bool // a well-formed request: it must get a 2xx
}

// smuggled is the request hidden in a body: serving it is request
// smuggling (the echo app would answer with its path).
const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

// The CGI script every body goes to, so that a hostile body reaches a child
// process.
const catURI = "/cgi/cat.sh"

// teWins is why a request with both lengths may be answered.
const teWins = "RFC 9112 §6.1: processed by Transfer-Encoding alone, then the connection closes"

func httpReq(head, body string) []byte {
	return []byte("POST " + catURI + " HTTP/1.1\r\nHost: x\r\n" + head + "\r\n" + body)
}

// hostileCases follow ../shared/research/protocols.md §6 (numbers in the
// names) and the request-smuggling classics.
func hostileCases() []hostileCase {
	var cs []hostileCase
	add := func(proto, name string, send []byte) {
		cs = append(cs, hostileCase{proto: proto, name: name, send: send})
	}
	lenient := func(proto, name, why string, send []byte) {
		cs = append(cs, hostileCase{proto: proto, name: name, send: send, lenient: why})
	}
	control := func(proto string, send []byte) {
		cs = append(cs, hostileCase{proto: proto, name: "control: a well-formed request", send: send, control: true})
	}

	// HTTP: smuggling, lengths, chunking, header syntax.
	control("http", httpReq("Content-Length: 5\r\n", "hello"))
	lenient("http", "smuggling: Content-Length + Transfer-Encoding", teWins, httpReq("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled))
	lenient("http", "smuggling: Transfer-Encoding + Content-Length", teWins, httpReq("Transfer-Encoding: chunked\r\nContent-Length: 60\r\n", "0\r\n\r\n"+smuggled))
	add("http", "smuggling: two Content-Lengths", httpReq("Content-Length: 6\r\nContent-Length: 40\r\n", "hello!"+smuggled))
	add("http", "smuggling: Content-Length list", httpReq("Content-Length: 6, 40\r\n", "hello!"+smuggled))
	lenient("http", "two equal Content-Lengths", "RFC 9110 §8.6 allows one value repeated", httpReq("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"))
	add("http", "smuggling: Transfer-Encoding xchunked", httpReq("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"+smuggled))
	add("http", "smuggling: Transfer-Encoding chunked, identity", httpReq("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"+smuggled))
	add("http", "smuggling: two Transfer-Encodings", httpReq("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n"+smuggled))
	add("http", "smuggling: space before the colon", httpReq("Transfer-Encoding : chunked\r\nContent-Length: 6\r\n", "0\r\n\r\n"+smuggled))
	lenient("http", "smuggling: Transfer-Encoding folded + Content-Length", teWins, httpReq("Transfer-Encoding:\r\n chunked\r\nContent-Length: 6\r\n", "0\r\n\r\n"+smuggled))
	add("http", "bad chunk size: not hex", httpReq("Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"))
	add("http", "bad chunk size: negative", httpReq("Transfer-Encoding: chunked\r\n", "-5\r\nhello\r\n0\r\n\r\n"))
	add("http", "bad chunk size: 2^72", httpReq("Transfer-Encoding: chunked\r\n", "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"))
	add("http", "bad chunk size: 0x prefix", httpReq("Transfer-Encoding: chunked\r\n", "0x5\r\nhello\r\n0\r\n\r\n"))
	add("http", "chunk longer than its size", httpReq("Transfer-Encoding: chunked\r\n", "5\r\nhello, world\r\n0\r\n\r\n"+smuggled))
	add("http", "chunk size line without CRLF", httpReq("Transfer-Encoding: chunked\r\n", "5hello0\r\n\r\n"))
	add("http", "chunked body cut off", httpReq("Transfer-Encoding: chunked\r\n", "400\r\nhello"))
	add("http", "negative Content-Length", httpReq("Content-Length: -1\r\n", "hello"))
	add("http", "Content-Length 2^66", httpReq("Content-Length: 73786976294838206464\r\n", "hello"))
	add("http", "body shorter than Content-Length", httpReq("Content-Length: 100\r\n", "hello"))
	add("http", "NUL in a header value", httpReq("X-A: a\x00b\r\nContent-Length: 0\r\n", ""))
	add("http", "bare CR in a header value", httpReq("X-A: a\rb\r\nContent-Length: 0\r\n", ""))
	add("http", "header without a colon", httpReq("Broken\r\nContent-Length: 0\r\n", ""))
	add("http", "request line too long", []byte("GET /"+strings.Repeat("a", 8000)+" HTTP/1.1\r\nHost: x\r\n\r\n"))
	add("http", "too many header fields", httpReq(strings.Repeat("X-A: b\r\n", 200)+"Content-Length: 0\r\n", ""))
	add("http", "HTTP/2 preface without h2c", []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	add("http", "garbage", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello"))
	add("http", "head cut off", []byte("POST "+catURI+" HTTP/1.1\r\nHost: x\r\nContent-Le"))

	// FastCGI.
	params := func(uri string, length int) []byte { return fcgiPairs(cgiVars("POST", uri, length)...) }
	control("fastcgi", fcgiRequest(params(catURI, 5), "hello"))
	begin := fcgiRecord(1, 1, fcgiBegin(1), 0)
	add("fastcgi", "12: BEGIN_REQUEST of 4 bytes", append(fcgiRecord(1, 1, fcgiBegin(1)[:4], 0), fcgiRequest(params("/", 0), "")[16:]...))
	add("fastcgi", "12: BEGIN_REQUEST with id 0", append(fcgiRecord(1, 0, fcgiBegin(1), 0), fcgiRecord(4, 0, nil, 0)...))
	add("fastcgi", "12: BEGIN_REQUEST twice for id 1", append(append([]byte{}, begin...), fcgiRequest(params("/", 0), "")...))
	add("fastcgi", "13: version 2", fcgiRaw(2, 1, 1, 8, 0, fcgiBegin(1), 0))
	add("fastcgi", "13: record length lies (65535, 10 sent)", append(append([]byte{}, begin...), fcgiRaw(1, 4, 1, 65535, 0, make([]byte, 10), 0)...))
	add("fastcgi", "13: padding 255, none sent", append(append([]byte{}, begin...), fcgiRaw(1, 4, 1, 0, 255, nil, 0)...))
	add("fastcgi", "13: header cut in the middle", begin[:5])
	add("fastcgi", "16: pair length past the record", append(append([]byte{}, begin...), fcgiRecord(4, 1, []byte{100, 1, 'A', 'B'}, 0)...))
	add("fastcgi", "16: name length 0x7fffffff", append(append([]byte{}, begin...), fcgiRecord(4, 1, []byte{0xff, 0xff, 0xff, 0xff, 1, 'A'}, 0)...))
	big := fcgiPairs("HTTP_X_BIG", strings.Repeat("a", 60000))
	over := append(append([]byte{}, begin...), fcgiRecord(4, 1, big, 0)...)
	over = append(over, fcgiRecord(4, 1, big, 0)...)
	over = append(over, fcgiRecord(4, 1, params("/", 0), 0)...)
	over = append(over, fcgiRecord(4, 1, nil, 0)...)
	add("fastcgi", "2: PARAMS over the 64 KiB cap", append(over, fcgiRecord(5, 1, nil, 0)...))
	add("fastcgi", "11: role 999", append(fcgiRecord(1, 1, fcgiBegin(999), 0), fcgiRecord(4, 1, nil, 0)...))
	add("fastcgi", "8: unknown management type 0x20", fcgiRecord(0x20, 0, []byte("x"), 0))
	add("fastcgi", "7: STDIN for a request never begun", fcgiRecord(5, 7, []byte("hello"), 0))
	add("fastcgi", "5: STDIN shorter than CONTENT_LENGTH", fcgiRequest(params(catURI, 100), "hello"))
	lenient("fastcgi", "5: STDIN longer than CONTENT_LENGTH", "the handler reads CONTENT_LENGTH bytes; the rest is discarded", fcgiRequest(params(catURI, 2), "hello"))
	add("fastcgi", "no REQUEST_METHOD", fcgiRequest(fcgiPairs("REQUEST_URI", "/"), ""))
	add("fastcgi", "NUL in a name", fcgiRequest(fcgiPairs(append(cgiVars("GET", "/", 0), "HTTP_X\x00Y", "v")...), ""))
	add("fastcgi", "HTTP sent to the FastCGI port", []byte(smuggled))

	// SCGI.
	control("scgi", scgiRequest("hello", scgiVars(catURI, 5)...))
	good := string(scgiRequest("", scgiVars("/", 0)...))
	_, rest, _ := strings.Cut(good, ":")
	add("scgi", "17: empty length", []byte(":"+rest))
	add("scgi", "17: length not digits", []byte("ab:"+rest))
	add("scgi", "17: leading zero", []byte("0"+good))
	add("scgi", "17: negative length", []byte("-5:"+rest))
	add("scgi", "17: 25-digit length", []byte(strings.Repeat("9", 25)+":"+rest))
	add("scgi", "17: no comma", []byte(strings.TrimSuffix(good, ",")+"X"))
	add("scgi", "17: length lies (1000, fewer sent)", []byte("1000:"+rest))
	add("scgi", "18: CONTENT_LENGTH missing", scgiRequest("", append([]string{"SCGI", "1"}, cgiVars("GET", "/", -1)...)...))
	add("scgi", "18: CONTENT_LENGTH not first", scgiRequest("", append([]string{"SCGI", "1", "CONTENT_LENGTH", "0"}, cgiVars("GET", "/", -1)...)...))
	add("scgi", "18: CONTENT_LENGTH not digits", scgiRequest("", append([]string{"CONTENT_LENGTH", "five", "SCGI", "1"}, cgiVars("GET", "/", -1)...)...))
	add("scgi", "18: CONTENT_LENGTH twice", scgiRequest("hello", append(scgiVars(catURI, 5), "CONTENT_LENGTH", "50")...))
	add("scgi", "18: SCGI missing", scgiRequest("", append([]string{"CONTENT_LENGTH", "0"}, cgiVars("GET", "/", -1)...)...))
	add("scgi", "18: SCGI 2", scgiRequest("", append([]string{"CONTENT_LENGTH", "0", "SCGI", "2"}, cgiVars("GET", "/", -1)...)...))
	add("scgi", "18: odd string count", scgiRequest("", append(scgiVars("/", 0), "LONELY")...))
	add("scgi", "18: no trailing NUL", []byte(strings.Replace(good, "\x00,", ",", 1)))
	add("scgi", "18: empty name", scgiRequest("", append(scgiVars("/", 0), "", "v")...))
	add("scgi", "19: body shorter than CONTENT_LENGTH", scgiRequest("hello", scgiVars(catURI, 100)...))
	lenient("scgi", "19: body longer than CONTENT_LENGTH", "one request per connection: the extra bytes are never read", scgiRequest("hello, world"+smuggled, scgiVars(catURI, 5)...))
	add("scgi", "HTTP sent to the SCGI port", []byte(smuggled))

	// uwsgi.
	vars := func(length int) []byte { return uwsgiVars(cgiVars("POST", catURI, length)...) }
	control("uwsgi", append(uwsgiPacket(0, -1, 0, vars(5)), "hello"...))
	v := vars(0)
	add("uwsgi", "20: datasize larger than the data", uwsgiPacket(0, len(v)+500, 0, v))
	add("uwsgi", "20: datasize cuts a key", uwsgiPacket(0, 5, 0, v))
	add("uwsgi", "20: datasize 0", uwsgiPacket(0, 0, 0, nil))
	add("uwsgi", "21: key length 0", uwsgiPacket(0, -1, 0, append(uwsgiVars("", "x"), v...)))
	add("uwsgi", "21: value length past the block", uwsgiPacket(0, -1, 0, append(append([]byte{}, v...), 1, 0, 'K', 0xff, 0x00, 'v')))
	add("uwsgi", "21: one trailing byte", uwsgiPacket(0, -1, 0, append(append([]byte{}, v...), 7)))
	for _, m := range []byte{72, 100, 255} {
		add("uwsgi", "22: modifier1 "+strconv.Itoa(int(m)), uwsgiPacket(m, -1, 0, v))
	}
	add("uwsgi", "22: HTTP sent to the uwsgi port", []byte(smuggled))
	add("uwsgi", "body shorter than CONTENT_LENGTH", append(uwsgiPacket(0, -1, 0, vars(100)), "hello"...))
	add("uwsgi", "header cut in the middle", []byte{0, 10})
	return cs
}
