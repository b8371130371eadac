package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
)

// field is the multipart form field that carries the image, as the
// article's client sends it.
const field = "image_data"

// handler resizes the image posted in the field image_data (see the package
// comment). Bad input gets a plain-text answer that says what was wrong:
//
//   - 405 for a method other than GET, HEAD and POST;
//   - 400 for a body that is not multipart/form-data, a form without
//     image_data, an empty image_data, or one that is not a PNG, JPEG, GIF,
//     BMP, TIFF or WebP image;
//   - 413 for a body larger than maxUpload (at once when Content-Length says
//     so, else when the limit is reached while reading) or an image larger
//     than maxPixels.
//
// A client that goes away while uploading ends the request with the read
// error; nothing is written.
type handler struct {
	maxUpload int64 // bytes of request body
	maxPixels int   // width × height of the decoded image
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, form)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		fail(w, http.StatusMethodNotAllowed, "POST a multipart form with the image in the field %q", field)
		return
	}
	if r.ContentLength > h.maxUpload {
		fail(w, http.StatusRequestEntityTooLarge, "the upload is %d bytes; the limit is %d", r.ContentLength, h.maxUpload)
		return
	}
	data, code, err := h.readImage(w, r)
	if err != nil {
		fail(w, code, "%v", err)
		return
	}
	img, code, err := decode(data, h.maxPixels)
	if err != nil {
		fail(w, code, "%v", err)
		return
	}
	out := render(img, caption(r))
	var buf bytes.Buffer
	if err := encodePNG(&buf, out); err != nil {
		fail(w, http.StatusInternalServerError, "encoding the PNG: %v", err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}

// readImage returns the bytes of the form field image_data, with the status
// to answer when it cannot.
func (h *handler) readImage(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, http.StatusBadRequest, fmt.Errorf("want a multipart/form-data body with the image in the field %q, got Content-Type %q",
			field, r.Header.Get("Content-Type"))
	}
	body := http.MaxBytesReader(w, r.Body, h.maxUpload)
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, http.StatusBadRequest, fmt.Errorf("the form has no field %q", field)
		}
		if err != nil {
			return nil, readStatus(err), fmt.Errorf("reading the form: %w", err)
		}
		if part.FormName() != field {
			continue // NextPart skips the rest of this one
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, readStatus(err), fmt.Errorf("reading %s: %w", field, err)
		}
		if len(data) == 0 {
			return nil, http.StatusBadRequest, fmt.Errorf("the field %q is empty", field)
		}
		return data, 0, nil
	}
}

// readStatus is 413 for a body over the limit, else 400.
func readStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	http.Error(w, "imageresize: "+fmt.Sprintf(format, args...), code)
}

// form is what a GET gets: an upload form posting to the same URL.
const form = `<!doctype html>
<title>imageresize</title>
<h1>imageresize</h1>
<p>The image comes back as an 800×800 PNG with this request's CGI variables drawn on it.</p>
<form method="post" enctype="multipart/form-data">
<input type="file" name="image_data" accept="image/*" required>
<button>Resize</button>
</form>
`
