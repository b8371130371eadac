package static

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/testutil"
)

// TestOverHTTP serves through a real server and client, where HEAD bodies,
// redirects and raw request targets take the path they take in production.
func TestOverHTTP(t *testing.T) {
	testutil.CheckGoroutines(t)
	root, _ := fixture(t)
	srv := httptest.NewServer(mustNew(t, root, nil))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()

	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}
	if resp, body := get("GET", "/docs/"); resp.StatusCode != 200 || body != "<html>docs</html>" {
		t.Errorf("GET /docs/: %d %q", resp.StatusCode, body)
	}
	if resp, body := get("HEAD", "/alphabet"); resp.StatusCode != 200 || body != "" || resp.ContentLength != 26 {
		t.Errorf("HEAD /alphabet: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	resp, _ := get("GET", "/docs?x=1")
	if resp.StatusCode != 301 {
		t.Fatalf("GET /docs?x=1: %d, want 301", resp.StatusCode)
	}
	loc, err := resp.Location()
	if err != nil || loc.Path != "/docs/" || loc.RawQuery != "x=1" {
		t.Errorf("redirect resolves to %v (%v), want /docs/?x=1", loc, err)
	}
	if resp, _ := get("POST", "/alphabet"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// Raw request lines, as an attacker would send them, bypassing the
	// client's own path cleaning.
	for _, target := range []string{
		"/../outside/secret.txt",
		"/%2e%2e/outside/secret.txt",
		"/..%2foutside/secret.txt",
		"/escape",
		"/escape-dir/secret.txt",
	} {
		if status, body := rawGet(t, srv.Listener.Addr().String(), target); status != "404" || strings.Contains(body, secret) {
			t.Errorf("raw GET %s: status %s body %q, want 404", target, status, body)
		}
	}
}

// rawGet sends one GET request line with target as written and returns the
// status code and the whole response.
func rawGet(t *testing.T, addr, target string) (status, response string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	response = string(b)
	if f := strings.Fields(response); len(f) > 1 {
		status = f[1]
	}
	return status, response
}
