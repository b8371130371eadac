package worker

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRouter(t *testing.T) {
	say := func(s string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s+" "+r.URL.Path) })
	}
	rt := &router{fallback: say("app")}
	rt.add("/a", say("a"))
	rt.add("/a/b", say("ab"))
	rt.add("/static", http.StripPrefix("/static", say("static")))
	tests := []struct{ path, want string }{
		{"/", "app /"},
		{"/a", "a /a"},
		{"/a/", "a /a/"},
		{"/a/x", "a /a/x"},
		{"/ab", "app /ab"},
		{"/a/b", "ab /a/b"},
		{"/a/b/c", "ab /a/b/c"},
		{"/a/bc", "a /a/bc"},
		{"/static/css/x.css", "static /css/x.css"},
		{"/staticx", "app /staticx"},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, httptest.NewRequest("GET", tt.path, nil))
		if got := w.Body.String(); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.path, got, tt.want)
		}
	}
}
