package worker

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestConnLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimitListener(inner, 1)
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	c1, _ := net.Dial("tcp", inner.Addr().String())
	defer c1.Close()
	c2, _ := net.Dial("tcp", inner.Addr().String())
	defer c2.Close()
	first := <-accepted
	select {
	case <-accepted:
		t.Fatal("a second connection was accepted over the limit of 1")
	case <-time.After(200 * time.Millisecond):
	}
	l.release(first) // what ConnState(StateClosed) does
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the freed slot was not used")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("a second Close failed: %v (a drain would be cut short)", err)
	}
	for range accepted {
	}
}

func TestRequestLimits(t *testing.T) {
	l := requestLimits{line: 50, fields: 3, fieldSize: 20}
	tests := []struct {
		name    string
		target  string
		headers map[string]string
		want    int
	}{
		{"fine", "/", map[string]string{"A": "1"}, 0},
		{"line", "/" + string(make([]byte, 60)), nil, http.StatusRequestURITooLong},
		{"fields", "/", map[string]string{"A": "1", "B": "2", "C": "3"}, http.StatusRequestHeaderFieldsTooLarge}, // + Host
		{"field size", "/", map[string]string{"Big": "0123456789012345678"}, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RequestURI = tt.target
		for k, v := range tt.headers {
			r.Header.Set(k, v)
		}
		if got := l.check(r); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	if (requestLimits{}).maxHeaderBytes() != http.DefaultMaxHeaderBytes {
		t.Error("unlimited limits should leave net/http's default")
	}
}
