// Package testpki makes a throwaway certificate authority and two leaf
// certificates it signed, as PEM files, for tests of mutual TLS and wss://
// (and for the bench harness, through Make).
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a CA and the certificates it signed, as files in a test's
// temporary directory. Each New makes a different CA.
type PKI struct {
	CAFile                string
	ServerCert, ServerKey string // IP SAN 127.0.0.1, DNS localhost, server auth
	ClientCert, ClientKey string // client auth

	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

// New makes a CA (ECDSA P-256, valid for an hour) with a server and a
// client certificate, in a temporary directory of t.
func New(t testing.TB) *PKI {
	t.Helper()
	p, err := Make(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Make is New outside a test (the bench harness): it writes the files into
// dir.
func Make(dir string) (*PKI, error) {
	p := &PKI{dir: dir}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "farpipe test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	p.caKey = key
	if p.CAFile, err = p.write("ca.pem", "CERTIFICATE", der); err != nil {
		return nil, err
	}
	if p.ServerCert, p.ServerKey, err = p.MakeLeaf("server", x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if p.ClientCert, p.ClientKey, err = p.MakeLeaf("client", x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	return p, nil
}

// Leaf makes another certificate signed by the CA, for usage; a server
// certificate is valid for 127.0.0.1 and localhost.
func (p *PKI) Leaf(t testing.TB, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := p.MakeLeaf(name, usage)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// MakeLeaf is Leaf outside a test.
func (p *PKI) MakeLeaf(name string, usage x509.ExtKeyUsage) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + p.serial),
		Subject:      pkix.Name{CommonName: "farpipe test " + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	if certFile, err = p.write(name+".pem", "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	if keyFile, err = p.write(name+"-key.pem", "PRIVATE KEY", kder); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func (p *PKI) write(name, typ string, der []byte) (string, error) {
	path := filepath.Join(p.dir, name)
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
