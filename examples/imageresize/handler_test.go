package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/internal/testutil"
	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// testLimits keep the table small: 1 MiB uploads, 4 megapixels.
func testHandler() *handler { return &handler{maxUpload: 1 << 20, maxPixels: 4_000_000} }

// encoded returns a w×h white image in format ("png", "jpeg", "gif").
func encoded(t testing.TB, format string, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hugePNG is a 1×1 PNG whose header claims w×h pixels: DecodeConfig
// believes it, Decode would fail on the missing data.
func hugePNG(t testing.TB, w, h uint32) []byte {
	t.Helper()
	b := encoded(t, "png", 1, 1)
	// 8-byte signature, then IHDR: length(4) "IHDR"(4) width(4) height(4) … crc(4).
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// multipartForm builds a multipart body; fields are name, value pairs, and a value
// for image_data is sent as a file part.
func multipartForm(t testing.TB, fields ...string) (body []byte, contentType string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		var w io.Writer
		var err error
		if fields[i] == field {
			w, err = mw.CreateFormFile(field, "upload")
		} else {
			w, err = mw.CreateFormField(fields[i])
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, fields[i+1])
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

func TestHandler(t *testing.T) {
	png400 := string(encoded(t, "png", 400, 400))
	big := strings.Repeat("x", 2<<20)
	tests := []struct {
		name    string
		method  string
		ctype   string // "" = the multipart form's
		fields  []string
		raw     string // body instead of fields
		chunked bool   // ContentLength -1
		code    int
		want    string // in the body
	}{
		// Each 200 costs a resize, about a second with -race: three formats,
		// three ways to send them.
		{name: "png", fields: []string{field, png400}, code: 200},
		{name: "jpeg among other fields", fields: []string{"note", "hi", field, string(encoded(t, "jpeg", 300, 200)), "after", "x"}, code: 200},
		{name: "gif chunked", fields: []string{field, string(encoded(t, "gif", 10, 1000))}, chunked: true, code: 200},
		{name: "get is the form", method: "GET", code: 200, want: `name="image_data"`},
		{name: "put", method: "PUT", code: 405, want: "POST a multipart form"},
		{name: "not multipart", ctype: "image/png", raw: png400, code: 400, want: "want a multipart/form-data body"},
		{name: "no boundary", ctype: "multipart/form-data", raw: "x", code: 400, want: "want a multipart/form-data body"},
		{name: "no image_data", fields: []string{"image", png400}, code: 400, want: `the form has no field "image_data"`},
		{name: "empty image_data", fields: []string{field, ""}, code: 400, want: `the field "image_data" is empty`},
		{name: "not an image", fields: []string{field, "hello, world"}, code: 400, want: "not an image in a known format"},
		{name: "truncated png", fields: []string{field, png400[:200]}, code: 400, want: "png"},
		{name: "broken multipart", ctype: "multipart/form-data; boundary=zz", raw: "--zz\r\nbroken", code: 400, want: "reading the form"},
		{name: "too large", fields: []string{field, big}, code: 413, want: "the limit is 1048576"},
		{name: "too large chunked", fields: []string{field, big}, chunked: true, code: 413, want: "request body too large"},
		{name: "too many pixels", fields: []string{field, string(hugePNG(t, 100000, 100000))}, code: 413, want: "100000×100000 pixels; the limit is 4000000"},
		{name: "huge dimensions", fields: []string{field, string(hugePNG(t, 1<<24, 1<<24))}, code: 413, want: "the limit is 4000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "POST"
			}
			body, ctype := []byte(tt.raw), tt.ctype
			if tt.fields != nil {
				body, ctype = multipartForm(t, tt.fields...)
			}
			req := httptest.NewRequest(method, "/resize?x=1", bytes.NewReader(body))
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			if tt.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			testHandler().ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.code, rec.Body)
			}
			if tt.want != "" && !strings.Contains(rec.Body.String(), tt.want) {
				t.Fatalf("body %q does not contain %q", rec.Body, tt.want)
			}
			if tt.code == 200 && method == "POST" {
				checkResized(t, rec.Header().Get("Content-Type"), rec.Body.Bytes())
			}
		})
	}
}

// checkResized decodes a response as an 800×800 PNG with black text in the
// top left corner, over the white image the tests upload.
func checkResized(t testing.TB, ctype string, body []byte) {
	t.Helper()
	if ctype != "image/png" {
		t.Fatalf("Content-Type %q, want image/png", ctype)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("decoding the response as a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 800 {
		t.Fatalf("got a %d×%d image, want 800×800", b.Dx(), b.Dy())
	}
	black := 0
	for y := 10; y < 30; y++ {
		for x := 10; x < 200; x++ {
			if r, g, b, a := img.At(x, y).RGBA(); r == 0 && g == 0 && b == 0 && a == 0xffff {
				black++
			}
		}
	}
	if black < 50 {
		t.Errorf("%d black pixels where the first line of text should be", black)
	}
	if c := color.NRGBAModel.Convert(img.At(790, 790)).(color.NRGBA); c.R < 0xf0 || c.G < 0xf0 || c.B < 0xf0 {
		t.Errorf("bottom right pixel %v, want (nearly) white", c)
	}
}

// TestVarsHTTP checks the variables built for a request that came over
// HTTP, through a real server so that the local address is known.
func TestVarsHTTP(t *testing.T) {
	testutil.CheckGoroutines(t)
	got := make(chan map[string]string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- cgiVars(r)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/a/b?q=1&r=2", strings.NewReader("body"))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Add("X-Forwarded-For", "10.0.0.1")
	req.Header.Add("X-Forwarded-For", "10.0.0.2")
	req.Header.Set("Authorization", "Basic c2VjcmV0")
	req.Header["X_Forwarded_For"] = []string{"spoofed"}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Client().CloseIdleConnections()
	v := <-got
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	want := map[string]string{
		"GATEWAY_INTERFACE":    "CGI/1.1",
		"SERVER_SOFTWARE":      "arbiter",
		"SERVER_PROTOCOL":      "HTTP/1.1",
		"SERVER_NAME":          host,
		"SERVER_ADDR":          host,
		"SERVER_PORT":          port,
		"REQUEST_METHOD":       "POST",
		"REQUEST_URI":          "/a/b?q=1&r=2",
		"REQUEST_SCHEME":       "http",
		"QUERY_STRING":         "q=1&r=2",
		"SCRIPT_NAME":          "",
		"PATH_INFO":            "/a/b",
		"REMOTE_ADDR":          "127.0.0.1",
		"REMOTE_HOST":          "127.0.0.1",
		"CONTENT_TYPE":         "text/plain",
		"CONTENT_LENGTH":       "4",
		"HTTP_HOST":            host + ":" + port,
		"HTTP_X_FORWARDED_FOR": "10.0.0.1, 10.0.0.2",
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %q, want %q", k, v[k], w)
		}
	}
	for _, k := range []string{"HTTP_AUTHORIZATION", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTPS"} {
		if _, ok := v[k]; ok {
			t.Errorf("%s is set: %q", k, v[k])
		}
	}
	if v["REMOTE_PORT"] == "" || v["REMOTE_PORT"] == "0" {
		t.Errorf("REMOTE_PORT = %q", v["REMOTE_PORT"])
	}
}

// TestVarsFrontEnd checks that the variables a front end sent (FastCGI,
// SCGI, uwsgi) are drawn as they were sent, and nothing else.
func TestVarsFrontEnd(t *testing.T) {
	env := map[string]string{
		"REQUEST_METHOD":  "POST",
		"REQUEST_URI":     "/up",
		"SCRIPT_NAME":     "/",
		"DOCUMENT_ROOT":   "/var/www/html",
		"SERVER_SOFTWARE": "nginx/1.22.1",
		"SERVER_PORT":     "8888",
		"CONTENT_LENGTH":  "0",
		"HTTP_HOST":       "localhost",
	}
	r, err := cgivars.NewRequest(context.Background(), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := caption(r)
	want := []string{
		"CONTENT_LENGTH: 0",
		"DOCUMENT_ROOT: /var/www/html",
		"HTTP_HOST: localhost",
		"REQUEST_METHOD: POST",
		"REQUEST_URI: /up",
		"SCRIPT_NAME: /",
		"SERVER_PORT: 8888",
		"SERVER_SOFTWARE: nginx/1.22.1",
	}
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "arbiter worker ") {
		t.Fatalf("caption %q", lines)
	}
	for i, w := range want {
		if lines[i+1] != w {
			t.Errorf("line %d = %q, want %q", i+1, lines[i+1], w)
		}
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"PATH_INFO: /a b", "PATH_INFO: /a b"},
		{"X: caf\u00e9\t\x00", "X: caf???"},
		{strings.Repeat("a", 200), strings.Repeat("a", maxColumns)},
		{strings.Repeat("\u00e9", 200), strings.Repeat("?", maxColumns)},
	}
	for _, tt := range tests {
		if got := printable(tt.in); got != tt.want {
			t.Errorf("printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzHandler posts arbitrary bytes as image_data: the answer is 200 with an
// 800×800 PNG, or 400 or 413, never a panic.
func FuzzHandler(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzHandler. Only one seed here is a
	// whole image: each costs a resize, about a second with -race.
	f.Add(encoded(f, "png", 4, 4))
	f.Add(hugePNG(f, 5000, 5000))
	f.Fuzz(func(t *testing.T, data []byte) {
		body, ctype := multipartForm(t, field, string(data))
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h := &handler{maxUpload: 1 << 20, maxPixels: 1 << 16}
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			img, err := png.Decode(rec.Body)
			if err != nil || img.Bounds() != image.Rect(0, 0, 800, 800) {
				t.Fatalf("200 without an 800×800 PNG: %v", err)
			}
		case 400, 413:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
