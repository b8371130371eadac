package handlers

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestByName(t *testing.T) {
	tests := []struct {
		name, contentType, body string
	}{
		{EchoName, "application/json", `"path":"/x"`},
		{HelloName, "text/plain; charset=utf-8", "Hello from worker 0 (pid 0, generation 0) over : /x\n"},
	}
	for _, tt := range tests {
		h, err := ByName(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
		if w.Code != 200 || w.Header().Get("Content-Type") != tt.contentType || !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("%s: %d %q %q", tt.name, w.Code, w.Header().Get("Content-Type"), w.Body.String())
		}
	}
	if _, err := ByName("static"); err == nil {
		t.Error(`ByName("static") succeeded`)
	}
}

func TestHelloVersion(t *testing.T) {
	for _, tt := range []struct{ env, want string }{{"", "1"}, {"7", "7"}} {
		t.Setenv("HELLO_VERSION", tt.env)
		h, err := LoadHello()
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if got := w.Header().Get("X-Hello-Version"); got != tt.want {
			t.Errorf("HELLO_VERSION=%q: X-Hello-Version %q, want %q", tt.env, got, tt.want)
		}
	}
}
