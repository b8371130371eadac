package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	"github.com/arbiter-dev/arbiter/internal/testcert"
)

// tlsFiles is the certificate both servers of a TLS row serve, made for the
// run in its temporary directory, and a client that trusts it. A nil
// *tlsFiles is plain HTTP.
type tlsFiles struct {
	pair   testcert.Pair
	client *http.Client
}

func newTLSFiles(dir string) (*tlsFiles, error) {
	ca, err := testcert.NewCA(dir, "bench")
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pair, err := ca.Issue(testcert.Options{CommonName: "server"})
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
	return &tlsFiles{pair: pair, client: &http.Client{Transport: tr, Timeout: 5 * time.Second}}, nil
}

// url is the address's root URL, https when t is set.
func (t *tlsFiles) url(addr string) string {
	if t == nil {
		return "http://" + addr + "/"
	}
	return "https://" + addr + "/"
}

func (t *tlsFiles) httpClient() *http.Client {
	if t == nil {
		return http.DefaultClient
	}
	return t.client
}

// listenKeys are the [[listen]] lines of arbiter's config for t.
func (t *tlsFiles) listenKeys() string {
	if t == nil {
		return ""
	}
	return fmt.Sprintf("tls_cert = %q\ntls_key = %q\n", t.pair.Cert, t.pair.Key)
}
