package echo

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/worker/info"
)

func TestEcho(t *testing.T) {
	tests := []struct {
		method, target, body string
		proto                string
	}{
		{"GET", "/a/b?x=1&y=2", "", "http"},
		{"POST", "/upload", strings.Repeat("z", 12345), "fastcgi"},
		{"HEAD", "/", "", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
		r.Header.Set("X-Test", "yes")
		if tt.proto != "" {
			r = r.WithContext(info.WithProtocol(r.Context(), tt.proto))
		}
		w := httptest.NewRecorder()
		New().ServeHTTP(w, r)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s %s: status %d, type %q", tt.method, tt.target, w.Code, w.Header().Get("Content-Type"))
		}
		var rep Reply
		if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Method != tt.method || rep.Path != r.URL.Path || rep.Query != r.URL.RawQuery ||
			rep.BodyLength != int64(len(tt.body)) || rep.Protocol != tt.proto ||
			rep.Headers["X-Test"][0] != "yes" || rep.PID == 0 {
			t.Errorf("%s %s: reply %+v", tt.method, tt.target, rep)
		}
	}
}

func ExampleNew() {
	w := httptest.NewRecorder()
	New().ServeHTTP(w, httptest.NewRequest("GET", "/hello?name=arbiter", nil))
	var rep Reply
	_ = json.Unmarshal(w.Body.Bytes(), &rep)
	fmt.Println(w.Code, rep.Method, rep.Path, rep.Query)
	// Output: 200 GET /hello name=arbiter
}
