// Package tlsfiles loads a listener's certificate files into a tls.Config.
//
// The master calls Load while it validates a config (so a bad file is a
// config problem, reported by `arbiter check` and refusing a HUP) and every
// worker calls it again when it boots: a worker of a new generation reads the
// files as they are then, which is how a HUP rotates certificates.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// Client authentication modes (a listener's tls_client_auth).
const (
	// ClientAuthRequire: every client must present a certificate that
	// verifies against the client CA, or the handshake fails.
	ClientAuthRequire = "require"
	// ClientAuthVerifyIfGiven: a client may present none; one it presents
	// must verify.
	ClientAuthVerifyIfGiven = "verify_if_given"
)

// ClientAuthModes are the accepted values of tls_client_auth.
var ClientAuthModes = []string{ClientAuthRequire, ClientAuthVerifyIfGiven}

// Files names a listener's TLS files. Cert and Key are PEM files (the
// certificate file may hold the chain after the leaf); ClientCA, when set,
// is a PEM bundle of the CAs client certificates must chain to.
type Files struct {
	Cert, Key, ClientCA string
	ClientAuth          string // "" = require when ClientCA is set
}

// Error says which of the files (by its config key: "tls_cert", "tls_key",
// "tls_client_ca") is at fault.
type Error struct {
	Key string
	Err error
}

func (e *Error) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Load reads the files and builds a server tls.Config: TLS 1.2 at least,
// ALPN "h2" then "http/1.1" (net/http then serves HTTP/2 to clients that
// offer it), and client verification when ClientCA is set. A leaf
// certificate whose NotAfter is before now is an error: a server that
// starts with it fails every handshake with a verifying client, so arbiter
// refuses to start (or to reload) with it. A certificate not valid yet is
// accepted (clock skew between the issuer and this host is common). Errors
// are *Error.
func Load(f Files, now time.Time) (*tls.Config, error) {
	certPEM, err := os.ReadFile(f.Cert)
	if err != nil {
		return nil, &Error{"tls_cert", fmt.Errorf("cannot read the certificate: %w", err)}
	}
	keyPEM, err := os.ReadFile(f.Key)
	if err != nil {
		return nil, &Error{"tls_key", fmt.Errorf("cannot read the private key: %w", err)}
	}
	leaf, err := firstCert(certPEM)
	if err != nil {
		return nil, &Error{"tls_cert", fmt.Errorf("%s: %w", f.Cert, err)}
	}
	if now.After(leaf.NotAfter) {
		return nil, &Error{"tls_cert", fmt.Errorf("%s: the certificate (subject %q) expired at %s",
			f.Cert, leaf.Subject.String(), leaf.NotAfter.UTC().Format(time.RFC3339))}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &Error{"tls_key", fmt.Errorf("%s with the certificate %s: %w", f.Key, f.Cert, err)}
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if f.ClientCA == "" {
		return cfg, nil
	}
	caPEM, err := os.ReadFile(f.ClientCA)
	if err != nil {
		return nil, &Error{"tls_client_ca", fmt.Errorf("cannot read the client CA bundle: %w", err)}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, &Error{"tls_client_ca", fmt.Errorf("%s: no PEM CERTIFICATE block in it", f.ClientCA)}
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	if f.ClientAuth == ClientAuthVerifyIfGiven {
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// firstCert parses the first CERTIFICATE block of a PEM file.
func firstCert(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM CERTIFICATE block in it")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the first certificate does not parse: %w", err)
		}
		return c, nil
	}
}
