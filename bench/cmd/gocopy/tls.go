package main

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

// serverConfig is TLS 1.3 with a fresh self-signed P-256 certificate.
func serverConfig() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("farpipe bench: gocopy: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gocopy"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"gocopy"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("farpipe bench: gocopy: %v", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	}, nil
}

// clientConfig is TLS 1.3 without verifying the server: gocopy measures
// the cost of the cipher, not of a trust model.
func clientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         "gocopy",
		InsecureSkipVerify: true,
	}
}

// handshake completes the handshake and checks that the cipher is
// AES-128-GCM, the one the benchmark compares against (Go picks it first
// on CPUs with AES instructions; TLS 1.3 suites are not configurable).
func handshake(c *tls.Conn) error {
	if err := c.Handshake(); err != nil {
		return fmt.Errorf("farpipe bench: gocopy: TLS handshake: %v", err)
	}
	if s := c.ConnectionState().CipherSuite; s != tls.TLS_AES_128_GCM_SHA256 {
		return fmt.Errorf("farpipe bench: gocopy: negotiated %s, not TLS_AES_128_GCM_SHA256", tls.CipherSuiteName(s))
	}
	return nil
}
