package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/testcert"
)

// TestTLSProblems checks that every way a listener's TLS keys can be wrong
// is a problem at file:line:col of the key at fault.
func TestTLSProblems(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.NewCA(dir, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(testcert.Options{CommonName: "srv"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.Issue(testcert.Options{CommonName: "other"})
	if err != nil {
		t.Fatal(err)
	}
	old, err := ca.Issue(testcert.Options{CommonName: "old", NotAfter: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	listen := "[[listen]]\naddress = \"127.0.0.1:0\"\n"
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"cert without key", listen + `tls_cert = "` + srv.Cert + `"`, []string{
			`app.toml:3:12: listen[0].tls_cert: needs tls_key, the private key of this certificate`}},
		{"key without cert", listen + `tls_key = "` + srv.Key + `"`, []string{
			`app.toml:3:11: listen[0].tls_key: needs tls_cert, the certificate that goes with this key`}},
		{"mismatched", listen + `tls_cert = "` + srv.Cert + `"` + "\n" + `tls_key = "` + other.Key + `"`, []string{
			`app.toml:4:11: listen[0].tls_key: ` + other.Key + ` with the certificate ` + srv.Cert + `: tls: private key does not match public key`}},
		{"unreadable", listen + `tls_cert = "` + missing + `"` + "\n" + `tls_key = "` + srv.Key + `"`, []string{
			`app.toml:3:12: listen[0].tls_cert: cannot read the certificate: open ` + missing + `: no such file or directory`}},
		{"expired", listen + `tls_cert = "` + old.Cert + `"` + "\n" + `tls_key = "` + old.Key + `"`, []string{
			`app.toml:3:12: listen[0].tls_cert: ` + old.Cert + `: the certificate (subject "CN=old,O=arbiter test") expired at 2020-01-02T03:04:05Z`}},
		{"fastcgi", listen + "protocol = \"fastcgi\"\n" + `tls_cert = "` + srv.Cert + `"` + "\n" + `tls_key = "` + srv.Key + `"`, []string{
			`app.toml:4:12: listen[0].tls_cert: TLS is only for protocol "http", not "fastcgi": a fastcgi front end (nginx) terminates TLS and talks to arbiter in plain fastcgi`}},
		{"ca without tls", listen + `tls_client_ca = "` + ca.CertPEM + `"`, []string{
			`app.toml:3:17: listen[0].tls_client_ca: needs tls_cert and tls_key on the same listener`}},
		{"auth mode", listen + `tls_cert = "` + srv.Cert + `"` + "\n" + `tls_key = "` + srv.Key + `"` + "\ntls_client_auth = \"maybe\"", []string{
			`app.toml:5:19: listen[0].tls_client_auth: must be one of require, verify_if_given; got "maybe"`,
			`app.toml:5:19: listen[0].tls_client_auth: needs tls_client_ca, the CAs that client certificates are verified against`}},
		{"h2c on fastcgi", listen + "protocol = \"fastcgi\"\nh2c = true", []string{
			`app.toml:4:7: listen[0].h2c: is only for protocol "http", not "fastcgi"`}},
		{"h2c with tls", listen + "h2c = true\n" + `tls_cert = "` + srv.Cert + `"` + "\n" + `tls_key = "` + srv.Key + `"`, []string{
			`app.toml:3:7: listen[0].h2c: is for plain-text listeners: a TLS listener negotiates HTTP/2 by ALPN already`}},
		{"access log atom", "[log]\naccess_log_format = '%(h)s %(x)s'", []string{
			`app.toml:2:21: log.access_log_format: format at byte 6: unknown atom %(x)s; the atoms are ` + "h l u t r s m U q H b B f a T D M L p w" + `, %({Header}i)s and %({Header}o)s`}},
		{"access log unbalanced", "[log]\naccess_log_format = '%(h)s %(t'", []string{
			`app.toml:2:21: log.access_log_format: format at byte 6: unbalanced "%(": no ")" after it`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("app.toml", []byte(tt.toml), Overrides{}, env())
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want Errors", err)
			}
			got := strings.Split(errs.Error(), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}

	// Relative paths resolve against the file's directory, and a good
	// pair loads.
	good := listen + "tls_cert = \"srv.pem\"\ntls_key = \"srv-key.pem\"\ntls_client_ca = \"cfg-ca.pem\"\n[log]\naccess_log_format = \"combined\"\n"
	c, err := Parse(filepath.Join(dir, "app.toml"), []byte(good), Overrides{}, env())
	if err != nil {
		t.Fatal(err)
	}
	want := ListenTLS{Cert: srv.Cert, Key: srv.Key, ClientCA: ca.CertPEM}
	if c.Listen[0].TLS != want || !c.Listen[0].TLS.Enabled() || c.Log.AccessLogFormat != "combined" {
		t.Errorf("got %+v and format %q, want %+v", c.Listen[0].TLS, c.Log.AccessLogFormat, want)
	}
}
