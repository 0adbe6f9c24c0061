package secure

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/farpipe/farpipe/session"
)

// ALPN is the TLS application protocol farpipe negotiates.
const ALPN = "farpipe/1"

// Config says how connections are secured. The zero value is not usable:
// it has no token.
type Config struct {
	// Token is the shared secret both sides prove they hold (text form).
	Token string
	// NoEncrypt skips TLS: the token is still proven (challenge-response,
	// never sent), but the stream crosses the network in clear.
	NoEncrypt bool
	// Local: the connection never leaves the host (a unix socket, shared
	// memory). The token is still proven, but there is no TLS and no
	// integrity tag: the kernel delivers the bytes.
	Local bool
	// CertFile, KeyFile and CAFile configure mutual TLS with real
	// certificates: this side presents CertFile/KeyFile and accepts only a
	// peer whose certificate chains to CAFile. A Token is then optional and,
	// if set, checked as well.
	CertFile, KeyFile, CAFile string
}

// PKI reports whether c uses certificates from files.
func (c *Config) PKI() bool { return c.CertFile != "" || c.KeyFile != "" || c.CAFile != "" }

// Check validates c.
func (c *Config) Check() error {
	switch {
	case c.PKI() && (c.CertFile == "" || c.KeyFile == "" || c.CAFile == ""):
		return errors.New("farpipe: mutual TLS needs a certificate, its key and a CA, all three")
	case c.PKI() && c.NoEncrypt:
		return errors.New("farpipe: certificates need encryption: they cannot be combined with no encryption")
	case !c.PKI() && c.Token == "":
		return ErrNoToken
	case c.Token != "":
		return CheckToken(c.Token)
	}
	return nil
}

// Authenticator returns the session authenticator for c.
func (c *Config) Authenticator() session.Authenticator {
	if c.PKI() && c.Token == "" {
		return CertAuth{}
	}
	return TokenAuth{Token: []byte(c.Token), NoFrameMAC: c.Local}
}

// ServerTLS returns the TLS configuration of a listening side, or nil with
// NoEncrypt.
func (c *Config) ServerTLS() (*tls.Config, error) {
	if c.NoEncrypt || c.Local && !c.PKI() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{ALPN}}
	if !c.PKI() {
		cert, err := ephemeralCert()
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
		return tc, nil
	}
	cert, pool, err := c.load()
	if err != nil {
		return nil, err
	}
	tc.Certificates = []tls.Certificate{cert}
	tc.ClientCAs = pool
	tc.ClientAuth = tls.RequireAndVerifyClientCert
	return tc, nil
}

// ClientTLS returns the TLS configuration of a dialing side for host, or
// nil with NoEncrypt. With certificates, the listener's must be signed by
// the CA and name host; an empty host (a unix socket or shared memory on
// this machine, which names no host) only needs the CA's signature.
func (c *Config) ClientTLS(host string) (*tls.Config, error) {
	if c.NoEncrypt || c.Local && !c.PKI() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{ALPN}}
	if !c.PKI() {
		// The listener's certificate is ephemeral and unverifiable by
		// design: the token proof, bound to this TLS session's keying
		// material, authenticates the listener instead.
		tc.InsecureSkipVerify = true
		return tc, nil
	}
	cert, pool, err := c.load()
	if err != nil {
		return nil, err
	}
	tc.Certificates = []tls.Certificate{cert}
	tc.RootCAs = pool
	tc.ServerName = host
	if host == "" {
		// crypto/tls verifies a chain only with a name to check; the
		// chain is verified here instead, against the same CA.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, pool)
		}
	}
	return tc, nil
}

// verifyChain checks that certs, a listener's certificate and the
// intermediates it sent, chain to a CA of roots, for a server.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool) error {
	if len(certs) == 0 {
		return errors.New("farpipe: the listener sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}

func (c *Config) load() (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return cert, nil, fmt.Errorf("farpipe: loading the certificate and its key: %v", err)
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return cert, nil, fmt.Errorf("farpipe: reading the CA file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return cert, nil, fmt.Errorf("farpipe: the CA file %s holds no PEM certificate", c.CAFile)
	}
	return cert, pool, nil
}

// ephemeralCert makes a self-signed ECDSA P-256 certificate valid for a day.
func ephemeralCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "farpipe ephemeral"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Client wraps a dialed connection in TLS per tc (nil: none). The
// connection returned has the optional interfaces of the session's
// connection that it supports (see conn.go).
// The TLS handshake itself runs lazily, on the first read or write, within
// the session handshake's deadline.
func Client(conn net.Conn, tc *tls.Config) net.Conn {
	if tc == nil {
		return socket(conn)
	}
	c := newTLSConn(conn, func(c net.Conn) *tls.Conn { return tls.Client(c, tc) })
	c.caOnly = tc.InsecureSkipVerify && tc.VerifyConnection != nil
	return c
}

// Server wraps an accepted connection in TLS per tc (nil: none), like
// Client.
func Server(conn net.Conn, tc *tls.Config) net.Conn {
	if tc == nil {
		return socket(conn)
	}
	return newTLSConn(conn, func(c net.Conn) *tls.Conn { return tls.Server(c, tc) })
}
