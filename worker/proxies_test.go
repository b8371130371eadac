package worker

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/forwarded"
	"github.com/arbiter-dev/arbiter/worker/info"
)

// seen records what the app behind withForwarded got.
type seen struct {
	remote, urlScheme, scheme string
	env                       map[string]string
}

func serveForwarded(t *testing.T, allow []string, r *http.Request) seen {
	t.Helper()
	trust, err := forwarded.ParseTrust(allow)
	if err != nil {
		t.Fatal(err)
	}
	var s seen
	withForwarded(trust, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s = seen{r.RemoteAddr, r.URL.Scheme, info.Scheme(r), cgivars.Env(r)}
	})).ServeHTTP(httptest.NewRecorder(), r)
	return s
}

func TestWithForwardedHTTP(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	r.Header.Set("X-Forwarded-Proto", "https")
	if s := serveForwarded(t, []string{"127.0.0.1"}, r); s.remote != "203.0.113.7" || s.urlScheme != "https" || s.scheme != "https" {
		t.Errorf("trusted: %+v", s)
	}
	if r.RemoteAddr != "127.0.0.1:5000" || r.URL.Scheme != "" {
		t.Errorf("the caller's request was changed: %q %q", r.RemoteAddr, r.URL.Scheme)
	}
	if s := serveForwarded(t, []string{"10.0.0.1"}, r); s.remote != "127.0.0.1:5000" || s.urlScheme != "" || s.scheme != "http" {
		t.Errorf("untrusted: %+v", s)
	}
}

// Over FastCGI, SCGI and uwsgi the peer is the front end's REMOTE_ADDR; a
// trusted one has its variables corrected in a copy.
func TestWithForwardedFrontEnd(t *testing.T) {
	env := map[string]string{
		"REQUEST_METHOD": "GET", "REQUEST_URI": "/", "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "x", "SERVER_PORT": "443",
		"REMOTE_ADDR": "198.51.100.1", "REMOTE_PORT": "5000", "REMOTE_HOST": "198.51.100.1", "HTTPS": "on",
		"HTTP_X_FORWARDED_FOR": "203.0.113.7, 198.51.100.2", "HTTP_X_FORWARDED_PROTO": "http",
	}
	orig := maps.Clone(env)
	newReq := func() *http.Request {
		r, err := cgivars.NewRequest(context.Background(), env, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A CDN at 198.51.100.0/24 in front of nginx: nginx's REMOTE_ADDR is the
	// CDN's edge, which is trusted, and so is the next hop.
	s := serveForwarded(t, []string{"198.51.100.0/24"}, newReq())
	want := map[string]string{"REMOTE_ADDR": "203.0.113.7", "REMOTE_HOST": "203.0.113.7", "REQUEST_SCHEME": "http"}
	for k, v := range want {
		if s.env[k] != v {
			t.Errorf("%s = %q, want %q", k, s.env[k], v)
		}
	}
	if _, ok := s.env["REMOTE_PORT"]; ok {
		t.Errorf("REMOTE_PORT %q kept, but the header gave no port", s.env["REMOTE_PORT"])
	}
	if _, ok := s.env["HTTPS"]; ok || s.scheme != "http" || s.remote != "203.0.113.7" {
		t.Errorf("HTTPS %q, scheme %q, remote %q", s.env["HTTPS"], s.scheme, s.remote)
	}
	if !maps.Equal(env, orig) {
		t.Error("the front end's variables were changed in place")
	}
	// No REMOTE_ADDR at all: not taken for a unix-socket peer.
	delete(env, "REMOTE_ADDR")
	if s := serveForwarded(t, []string{}, newReq()); s.remote != "" || s.env["REMOTE_ADDR"] != "" {
		t.Errorf("front end without REMOTE_ADDR: %+v", s)
	}
	env["REMOTE_ADDR"] = orig["REMOTE_ADDR"]
	// nginx's REMOTE_ADDR not trusted (the default: loopback only): as sent.
	if s := serveForwarded(t, []string{"127.0.0.1"}, newReq()); s.remote != "198.51.100.1:5000" || !maps.Equal(s.env, orig) || s.scheme != "https" {
		t.Errorf("untrusted front end peer: %+v", s)
	}
}
