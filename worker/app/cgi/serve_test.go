package cgi

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A script that answers before it reads its stdin still gets the whole
// body over HTTP/1: net/http would discard an unread body as the headers go
// out unless the handler runs full duplex.
func TestBodyReadAfterHeadersOverHTTP(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{"late.sh": `#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
sleep 0.2
wc -c | tr -d ' '
`})
	srv := f.serve()
	body := strings.Repeat("b", 100_000)
	for i := range 3 {
		resp, err := http.Post(srv.URL+"/late.sh", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(got)) != "100000" {
			t.Fatalf("run %d: the script read %q bytes of 100000", i, strings.TrimSpace(string(got)))
		}
	}
}
