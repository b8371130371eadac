package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// Helpers for the tests of examples/: they run the files the examples ship
// (configs, nginx.conf, client.py), with only addresses and Debian's include
// paths substituted, so that what a README says is what the tests run.

// exampleDir returns the absolute path of examples/name.
func exampleDir(t testing.TB, name string) string {
	return filepath.Join(proctest.ModuleRoot(t), "examples", name)
}

// copySubst copies src to dst, replacing each old string of pairs (old,
// new, old, new, …) with its new one in a single pass. Every old string
// must occur in src: a test must not silently stop testing what an edited
// example ships.
func copySubst(t testing.TB, src, dst string, pairs ...string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(pairs); i += 2 {
		if !bytes.Contains(b, []byte(pairs[i])) {
			t.Fatalf("%s no longer contains %q: update the test", src, pairs[i])
		}
	}
	out := strings.NewReplacer(pairs...).Replace(string(b))
	if err := os.WriteFile(dst, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// exampleAddrs gives each address an example ships a free one in its place:
// arb are arbiter's listeners by protocol (app.toml names them all,
// nginx.conf all but "http"), front nginx's own. It returns the free
// address of each example address, and the copySubst pairs for app.toml
// and for nginx.conf.
func exampleAddrs(t testing.TB, arb, front map[string]string) (free map[string]string, appSubst, nginxSubst []string) {
	free = map[string]string{}
	for proto, addr := range arb {
		free[addr] = proctest.FreeAddr(t)
		appSubst = append(appSubst, addr, free[addr])
		if proto != "http" {
			nginxSubst = append(nginxSubst, addr, free[addr])
		}
	}
	for _, addr := range front {
		free[addr] = proctest.FreeAddr(t)
		nginxSubst = append(nginxSubst, addr, free[addr])
	}
	return free, appSubst, nginxSubst
}

// startExampleNginx copies src/nginx.conf into dir with subst and the
// binary's include paths substituted, checks it with nginx -t and runs it
// (startNginxConf) until every address in addrs accepts. It returns false,
// with nothing started, when there is no nginx: the subtests that need one
// then call nginxtest.Require, which skips them, or fails them under $CI.
func startExampleNginx(t testing.TB, src, dir string, subst []string, addrs ...string) bool {
	t.Helper()
	bin, err := nginxtest.Binary()
	if err != nil {
		return false
	}
	copySubst(t, filepath.Join(src, "nginx.conf"), filepath.Join(dir, "nginx.conf"), append(subst, nginxIncludeSubst(t, bin)...)...)
	nginxTestConf(t, bin, dir, "nginx.conf")
	startNginxConf(t, bin, dir, "nginx.conf", addrs...)
	return true
}

// copyDir copies the regular files of src into dst (created), keeping their
// modes.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

// nginxIncludeDir is the directory of the nginx binary's own
// fastcgi_params, scgi_params and uwsgi_params (the directory of its
// --conf-path), which the examples include from Debian's /etc/nginx/.
func nginxIncludeDir(t testing.TB, bin string) string {
	t.Helper()
	out, _ := exec.Command(bin, "-V").CombinedOutput()
	if m := regexp.MustCompile(`--conf-path=(\S+)`).FindSubmatch(out); m != nil {
		return filepath.Dir(string(m[1]))
	}
	return "/etc/nginx"
}

// nginxIncludeSubst is the substitution of Debian's include paths for bin's.
func nginxIncludeSubst(t testing.TB, bin string) []string {
	return []string{"/etc/nginx/", nginxIncludeDir(t, bin) + "/"}
}

// rootArgs are the -g directives for nginx as root: its workers would
// otherwise switch to nobody and lose access to the test's 0700 temp
// directories (the examples' configs run nginx as the user who starts it).
func rootArgs() []string {
	if os.Geteuid() == 0 {
		return []string{"-g", "user root root;"}
	}
	return nil
}

// nginxTestConf runs `nginx -t -p dir/ -c conf`, which parses conf and
// opens what it names (pid, temp and log paths) without listening.
func nginxTestConf(t testing.TB, bin, dir, conf string) {
	t.Helper()
	args := append([]string{"-t", "-p", dir + "/", "-c", conf}, rootArgs()...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t -p %s/ -c %s: %v\n%s", dir, conf, err, out)
	}
}

// startNginxConf runs nginx as a README says, `nginx -p dir/ -c conf` from
// dir, until the test ends, and waits until every address in addrs
// accepts. At the end it stops nginx gracefully (SIGQUIT: the master exits
// after its workers), kills its process group if it lingers, and fails the
// test for every error-level
// line in nginx's log (conf's error_log stderr goes to dir/nginx-stderr.log).
func startNginxConf(t testing.TB, bin, dir, conf string, addrs ...string) {
	t.Helper()
	logPath := filepath.Join(dir, "nginx-stderr.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{"-p", dir + "/", "-c", conf}, rootArgs()...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("nginx (%s) did not stop within 10s of SIGQUIT", conf)
		}
		if lines := nginxtest.LinesAtLeast(readLog(), "error"); len(lines) > 0 {
			t.Errorf("nginx (%s) logged errors:\n%s", conf, strings.Join(lines, "\n"))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range addrs {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				t.Fatalf("nginx (%s) exited at start-up:\n%s", conf, readLog())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("nginx (%s) not accepting on %s: %v\n%s", conf, addr, err, readLog())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// findPython returns a python3 that has Pillow and requests (Debian's
// python3-pil and python3-requests): /usr/bin/python3, where apt installs
// them, else the first python3 on PATH; "" when neither has them.
func findPython() string {
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "import PIL, requests").Run() == nil {
			return p
		}
	}
	return ""
}

// requirePython returns findPython's python3. Without one the test is
// skipped, or failed when $CI is set (.ci/run installs both packages).
func requirePython(t testing.TB) string {
	t.Helper()
	if p := findPython(); p != "" {
		return p
	}
	msg := "needs python3 with PIL and requests (Debian: apt-get install python3-pil python3-requests)"
	if os.Getenv(nginxtest.EnvCI) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// runClient runs examples/imageresize/client.py, the article's client,
// against url in a fresh directory and returns the image-resized.png it
// wrote.
func runClient(t testing.TB, python, url string) []byte {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(python, filepath.Join(exampleDir(t, "imageresize"), "client.py"), url)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("client.py %s: %v\n%s", url, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "image-resized.png"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// whitePNG is a white w×h PNG, the article's blank image.
func whitePNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imageForm is a multipart body with data in the field image_data, as the
// article's client sends it.
func imageForm(t testing.TB, data []byte) (body []byte, contentType string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreateFormFile("image_data", "blank-image.png")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// post sends body to url and returns the status, Content-Type and body.
func post(t testing.TB, c *http.Client, url, contentType string, body []byte) (int, string, []byte) {
	t.Helper()
	resp, err := c.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// checkResized fails t unless b is an 800×800 PNG with black text in its
// top left corner (the first line of variables) over the white image the
// tests upload.
func checkResized(t testing.TB, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v: %.200q", err, b)
	}
	if r := img.Bounds(); r.Dx() != 800 || r.Dy() != 800 {
		t.Fatalf("a %d×%d image, want 800×800", r.Dx(), r.Dy())
	}
	black := 0
	for y := 10; y < 30; y++ {
		for x := 10; x < 200; x++ {
			if c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA); c.R == 0 && c.G == 0 && c.B == 0 {
				black++
			}
		}
	}
	if black < 50 {
		t.Errorf("%d black pixels where the first line of text should be", black)
	}
	if c := color.RGBAModel.Convert(img.At(790, 790)).(color.RGBA); c.R < 0xf0 || c.G < 0xf0 || c.B < 0xf0 {
		t.Errorf("bottom right pixel %v, want white", c)
	}
}

// checkQuietLog fails t for every event above info that the master logged
// from index from on.
func checkQuietLog(t testing.TB, srv *proctest.Server, from int) {
	t.Helper()
	for _, ev := range srv.Events()[from:] {
		if lvl := ev.Str("level"); lvl != "info" && lvl != "debug" {
			t.Errorf("arbiter logged at %s: %v", lvl, ev)
		}
	}
}
