package tlsfiles

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/testcert"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.NewCA(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(testcert.Options{CommonName: "server"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.Issue(testcert.Options{CommonName: "other"})
	if err != nil {
		t.Fatal(err)
	}
	old, err := ca.Issue(testcert.Options{CommonName: "old", NotAfter: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name    string
		f       Files
		wantKey string // "" = loads
		wantMsg string
	}{
		{"pair", Files{Cert: srv.Cert, Key: srv.Key}, "", ""},
		{"mtls", Files{Cert: srv.Cert, Key: srv.Key, ClientCA: ca.CertPEM}, "", ""},
		{"cert missing", Files{Cert: missing, Key: srv.Key}, "tls_cert", "no such file"},
		{"key missing", Files{Cert: srv.Cert, Key: missing}, "tls_key", "no such file"},
		{"cert not pem", Files{Cert: garbage, Key: srv.Key}, "tls_cert", "no PEM CERTIFICATE"},
		{"key not pem", Files{Cert: srv.Cert, Key: garbage}, "tls_key", "failed to find any PEM data"},
		{"key of another cert", Files{Cert: srv.Cert, Key: other.Key}, "tls_key", "does not match"},
		{"key as cert", Files{Cert: srv.Key, Key: srv.Key}, "tls_cert", "no PEM CERTIFICATE"},
		{"expired", Files{Cert: old.Cert, Key: old.Key}, "tls_cert", "expired at"},
		{"ca missing", Files{Cert: srv.Cert, Key: srv.Key, ClientCA: missing}, "tls_client_ca", "no such file"},
		{"ca not pem", Files{Cert: srv.Cert, Key: srv.Key, ClientCA: garbage}, "tls_client_ca", "no PEM CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.f, time.Now())
			if tt.wantKey == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(cfg.Certificates) != 1 || strings.Join(cfg.NextProtos, ",") != "h2,http/1.1" {
					t.Errorf("config: %d certificates, NextProtos %v", len(cfg.Certificates), cfg.NextProtos)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Key != tt.wantKey || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want an *Error for %s containing %q", err, tt.wantKey, tt.wantMsg)
			}
		})
	}

	cfg, err := Load(Files{Cert: srv.Cert, Key: srv.Key, ClientCA: ca.CertPEM}, time.Now())
	if err != nil || cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil {
		t.Errorf("client CA without a mode: %v, ClientAuth %v", err, cfg.ClientAuth)
	}
	cfg, err = Load(Files{Cert: srv.Cert, Key: srv.Key, ClientCA: ca.CertPEM, ClientAuth: ClientAuthVerifyIfGiven}, time.Now())
	if err != nil || cfg.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("verify_if_given: %v, ClientAuth %v", err, cfg.ClientAuth)
	}
}
