package static_test

import (
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/arbiter-dev/arbiter/worker/app/static"
)

func ExampleNew() {
	dir, err := os.MkdirTemp("", "static-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Mkdir(filepath.Join(dir, "docs"), 0o755)
	os.WriteFile(filepath.Join(dir, "docs", "index.html"), []byte("<h1>Docs</h1>"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("PASSWORD=x"), 0o600)

	h, err := static.New(dir, nil) // index.html
	if err != nil {
		log.Fatal(err)
	}
	for _, target := range []string{"/docs/", "/docs?page=2", "/.env", "/../etc/passwd"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		fmt.Printf("%s: %d location=%q body=%q\n", target, w.Code, w.Header().Get("Location"), w.Body.String())
	}
	// Output:
	// /docs/: 200 location="" body="<h1>Docs</h1>"
	// /docs?page=2: 301 location="./docs/?page=2" body=""
	// /.env: 404 location="" body="Not Found\n"
	// /../etc/passwd: 404 location="" body="Not Found\n"
}
