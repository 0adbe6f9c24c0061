package quic

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// alpn is the application protocol both ends name in QUIC's handshake.
const alpn = "farpipe"

// serverTLS returns the TLS configuration of a listener: a certificate
// made for it alone (ECDSA P-256, self-signed, never stored). QUIC cannot
// run without TLS 1.3; the farpipe session inside authenticates the peer
// with its own TLS 1.3 and token, end to end, so this outer certificate
// proves nothing and is not checked by the dialer.
func serverTLS() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("farpipe: quic: generate a listener key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("farpipe: quic: generate a serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "farpipe quic listener"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("farpipe: quic: make a listener certificate: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{alpn},
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	}, nil
}

// clientTLS returns the TLS configuration of a dialer. It does not verify
// the listener's certificate (see serverTLS): the farpipe session inside
// the stream does the authentication.
func clientTLS(host string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{alpn},
		ServerName:         host,
		InsecureSkipVerify: true, // the session inside authenticates; see docs/security.md
	}
}
