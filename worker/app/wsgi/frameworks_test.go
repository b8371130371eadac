package wsgi

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlask(t *testing.T) {
	needModule(t, "flask", "python3-flask")
	a := startApp(t, "flaskapp:app", func(c *Config) { c.ScriptName = "/shop"; c.Threads = 2 })
	if _, body := a.get(t, "/shop/"); body != "hello from flask" {
		t.Errorf("index: %q", body)
	}
	jr, _ := http.NewRequest("POST", a.url+"/shop/json", strings.NewReader(`{"a": [1, 2]}`))
	jr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(jr)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); resp.StatusCode != 200 || err != nil {
		t.Fatalf("json: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if got["script_root"] != "/shop" || got["path"] != "/json" || !strings.HasSuffix(got["url"].(string), "/shop/json") {
		t.Errorf("Flask sees the mount wrong: %v", got)
	}
	// url_for knows the mount (SCRIPT_NAME).
	if _, body := a.get(t, "/shop/url"); !strings.HasSuffix(body, "/shop/hello/x") {
		t.Errorf("url_for: %q", body)
	}
	// A multipart upload larger than the memory buffer.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("name", "value")
	fw, _ := mw.CreateFormFile("upload", "data.bin")
	_, _ = fw.Write(bytes.Repeat([]byte("z"), 300<<10))
	mw.Close()
	req, _ := http.NewRequest("POST", a.url+"/shop/form", &mp)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var form struct {
		Form  map[string]string
		Files map[string]int
	}
	if err := json.NewDecoder(r2.Body).Decode(&form); err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if form.Form["name"] != "value" || form.Files["upload"] != 300<<10 {
		t.Errorf("multipart: %+v", form)
	}
	if _, body := a.get(t, "/shop/stream"); body != "line 0\nline 1\nline 2\n" {
		t.Errorf("stream: %q", body)
	}
	f := filepath.Join(t.TempDir(), "f")
	_ = os.WriteFile(f, bytes.Repeat([]byte("0123456789"), 100000), 0o644)
	resp, body := a.get(t, "/shop/file?path="+f)
	if resp.ContentLength != 1000000 || len(body) != 1000000 {
		t.Errorf("send_file: Content-Length %d, %d bytes", resp.ContentLength, len(body))
	}
	resp, _ = a.get(t, "/shop/cookie")
	if len(resp.Header["Set-Cookie"]) != 2 {
		t.Errorf("two cookies: %v", resp.Header["Set-Cookie"])
	}
	if resp, _ := a.get(t, "/shop/boom"); resp.StatusCode != 500 {
		t.Errorf("a view that raises: %d", resp.StatusCode)
	}
	a.log.wait(t, "flask view failed")
	if resp, _ := a.get(t, "/shop/nope"); resp.StatusCode != 404 {
		t.Errorf("no route: %d", resp.StatusCode)
	}
}

func TestDjango(t *testing.T) {
	needModule(t, "django", "python3-django")
	dir, _ := filepath.Abs("testdata/apps/djangoproj")
	a := startApp(t, "mysite.wsgi:application", func(c *Config) {
		c.Dir = dir
		c.ScriptName = "/dj"
		c.Env = append(c.Env, "DJANGO_SETTINGS_MODULE=mysite.settings")
	})
	if _, body := a.get(t, "/dj/"); body != "hello from django" {
		t.Errorf("index: %q", body)
	}
	resp, body := a.get(t, "/dj/where")
	var got map[string]any
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil {
		t.Fatalf("where: %d %s", resp.StatusCode, body)
	}
	if got["path"] != "/dj/where" || got["path_info"] != "/where" || got["script_name"] != "/dj" || got["reverse"] != "/dj/where" {
		t.Errorf("Django sees the mount wrong: %v", got)
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("k", "v")
	fw, _ := mw.CreateFormFile("doc", "doc.txt")
	_, _ = fw.Write(bytes.Repeat([]byte("d"), 200<<10))
	mw.Close()
	req, _ := http.NewRequest("POST", a.url+"/dj/upload", &mp)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		Post  map[string]string
		Files map[string]int
	}
	if err := json.NewDecoder(r2.Body).Decode(&up); err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if up.Post["k"] != "v" || up.Files["doc"] != 200<<10 {
		t.Errorf("upload: %+v", up)
	}
	if _, body := a.get(t, "/dj/stream"); body != "part 0\npart 1\npart 2\n" {
		t.Errorf("streaming response: %q", body)
	}
	// CSRF protection is on: a POST to a protected view without a token is
	// refused by Django, not by arbiter.
	if resp, _ := a.do(t, "POST", "/dj/where", []byte("x=1")); resp.StatusCode != 403 {
		t.Errorf("POST without a CSRF token: %d, want 403", resp.StatusCode)
	}
}
