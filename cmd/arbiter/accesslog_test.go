package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// waitAccessLine waits for the access log file to have a line and returns
// the first one.
func waitAccessLine(t *testing.T, path string) string {
	t.Helper()
	var line string
	proctest.Eventually(t, 10*time.Second, "an access log line", func() bool {
		b, _ := os.ReadFile(path)
		var ok bool
		line, _, ok = strings.Cut(string(b), "\n")
		return ok
	})
	return line
}

func accessGet(t *testing.T, c *http.Client, url string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Referer", "http://ref.example/")
	req.Header.Set("User-Agent", `tester "quoted"`)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// The combined preset, plus duration and worker id, written by a worker to
// a file.
func TestAccessLogCombined(t *testing.T) {
	f := start(t, basic+"[log]\naccess_log = \"access.log\"\naccess_log_format = "+
		`'%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s %(w)s'`+"\n")
	accessGet(t, client, "http://"+f.addr+"/path?q=1")
	line := waitAccessLine(t, f.dir+"/access.log")
	re := regexp.MustCompile(`^127\.0\.0\.1 - - \[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /path\?q=1 HTTP/1\.1" 200 \d+ "http://ref\.example/" "tester \\"quoted\\"" \d+ [12]$`)
	if !re.MatchString(line) {
		t.Errorf("combined line %q does not match %s", line, re)
	}
	t.Logf("combined: %s", line)
}

// The json preset over TLS and HTTP/2: one object per line with the
// request's fields, its duration and the worker id.
func TestAccessLogJSON(t *testing.T) {
	f, ca := tlsFixture(t, "log.access_log = \"access.log\"\nlog.access_log_format = \"json\"\n"+tlsConfig)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}}
	accessGet(t, c, "https://"+f.addr+"/j?x=y")
	line := waitAccessLine(t, f.dir+"/access.log")
	var got struct {
		Remote, Method, URI, Proto, Referer, UserAgent, Listener string
		Status, Worker, PID                                      int
		Bytes, DurationUS                                        int64
		Time                                                     time.Time
	}
	d := json.NewDecoder(strings.NewReader(strings.NewReplacer(`"user_agent"`, `"useragent"`, `"duration_us"`, `"durationus"`).Replace(line)))
	if err := d.Decode(&got); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if got.Remote != "127.0.0.1" || got.Method != "GET" || got.URI != "/j?x=y" || got.Proto != "HTTP/2.0" ||
		got.Status != 200 || got.Worker != 1 || got.PID == 0 || got.Bytes == 0 || got.DurationUS <= 0 ||
		got.UserAgent != `tester "quoted"` || got.Referer != "http://ref.example/" || got.Listener != "http" ||
		time.Since(got.Time) > time.Minute {
		t.Errorf("json line: %+v\n%s", got, line)
	}
	t.Logf("json: %s", line)
}
