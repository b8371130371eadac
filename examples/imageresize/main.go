// Command imageresize is the demo of "Python Application Deployment:
// Protocols" (../shared/seeds/004_*.txt in the project notes) done in Go,
// with arbiter in library mode: a multipart POST with a field image_data
// gets back that image resized to 800×800 as a PNG, with the request's CGI
// variables drawn on it in black.
//
// The same handler answers over HTTP directly and over FastCGI, SCGI and
// uwsgi behind nginx (app.toml, nginx.conf). Over the three CGI-style
// protocols the variables drawn are the ones the front end sent
// (cgivars.Env); over HTTP they are built from the request (vars.go).
//
//	examples/imageresize/run.sh          # arbiter and nginx; Ctrl-C stops both
//	python3 examples/imageresize/client.py http://127.0.0.1:9999/
//
// A GET answers with an HTML form that posts to the same URL, for a browser.
package main

import (
	"github.com/arbiter-dev/arbiter/arbiter"
)

// Limits of one request. An upload larger than maxUploadBytes gets 413
// without being read further; an image whose header declares more than
// maxPixels pixels gets 413 before it is decoded, so a small file cannot
// make a worker allocate gigabytes.
const (
	maxUploadBytes = 20 << 20
	maxPixels      = 25_000_000
)

func main() {
	arbiter.Main(&handler{maxUpload: maxUploadBytes, maxPixels: maxPixels})
}
