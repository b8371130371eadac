package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter/tlsfiles"
)

// validateTLS checks a listener's TLS keys (and h2c, which only a plain
// http listener takes) and loads its files, so that a
// missing, unreadable, mismatched or expired certificate is a problem at
// the key that names it, found before any worker boots (and refusing a
// HUP). TLS is for http listeners only: FastCGI, SCGI and uwsgi speak to a
// front end on the same host, which terminates TLS itself.
func validateTLS(l Listen, key string, r reporter) {
	t := l.TLS
	switch {
	case l.H2C && l.Protocol != ProtoHTTP:
		r.problem(key+".h2c", fmt.Sprintf(`is only for protocol "http", not %q`, l.Protocol))
	case l.H2C && t.Enabled():
		r.problem(key+".h2c", "is for plain-text listeners: a TLS listener negotiates HTTP/2 by ALPN already")
	}
	if !t.Enabled() {
		if t.ClientCA != "" {
			r.problem(key+".tls_client_ca", "needs tls_cert and tls_key on the same listener")
		}
		if t.ClientAuth != "" {
			r.problem(key+".tls_client_auth", "needs tls_cert and tls_key on the same listener")
		}
		return
	}
	first := key + ".tls_cert"
	if t.Cert == "" {
		first = key + ".tls_key"
	}
	if l.Protocol != ProtoHTTP {
		r.problem(first, fmt.Sprintf(`TLS is only for protocol "http", not %q: a %s front end (nginx) terminates TLS and talks to arbiter in plain %s`,
			l.Protocol, l.Protocol, l.Protocol))
		return
	}
	switch {
	case t.Cert == "":
		r.problem(key+".tls_key", "needs tls_cert, the certificate that goes with this key")
		return
	case t.Key == "":
		r.problem(key+".tls_cert", "needs tls_key, the private key of this certificate")
		return
	}
	if t.ClientAuth != "" {
		oneOf(r, key+".tls_client_auth", t.ClientAuth, tlsfiles.ClientAuthModes)
		if t.ClientCA == "" {
			r.problem(key+".tls_client_auth", "needs tls_client_ca, the CAs that client certificates are verified against")
		}
	}
	_, err := tlsfiles.Load(t.Files(), time.Now())
	var fe *tlsfiles.Error
	switch {
	case errors.As(err, &fe):
		r.problem(key+"."+fe.Key, fe.Err.Error())
	case err != nil:
		r.problem(first, err.Error())
	}
}

// Files is t as tlsfiles.Load takes it.
func (t ListenTLS) Files() tlsfiles.Files {
	return tlsfiles.Files{Cert: t.Cert, Key: t.Key, ClientCA: t.ClientCA, ClientAuth: t.ClientAuth}
}
