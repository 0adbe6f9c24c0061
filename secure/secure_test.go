package secure_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/testpki"
	"github.com/farpipe/farpipe/secure"
	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// validToken is a token CheckToken accepts.
const validToken = "0123456789abcdef-test-token"

func TestNewToken(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		tok := secure.NewToken()
		if len(tok) != 43 {
			t.Fatalf("NewToken() = %q: %d characters, want 43", tok, len(tok))
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != secure.TokenLen {
			t.Fatalf("NewToken() = %q: not %d bytes of unpadded base64url (%v)", tok, secure.TokenLen, err)
		}
		if err := secure.CheckToken(tok); err != nil {
			t.Fatalf("CheckToken(NewToken()) = %v", err)
		}
		if seen[tok] {
			t.Fatalf("NewToken() returned %q twice", tok)
		}
		seen[tok] = true
	}
}

func TestCheckToken(t *testing.T) {
	for _, tc := range []struct {
		name, tok string
		ok        bool
	}{
		{"empty", "", false},
		{"15 bytes", strings.Repeat("x", secure.MinTokenLen-1), false},
		{"16 bytes", strings.Repeat("x", secure.MinTokenLen), true},
		{"generated", secure.NewToken(), true},
		{"base64 of urandom", "q3J0c2VjcmV0K2JpdHMvZm9yLWZhcnBpcGUtdGVzdHM=", true},
		{"long", strings.Repeat("y", 4096), true},
		{"space", "0123456789 abcdef", false},
		{"tab", "0123456789\tabcdef", false},
		{"newline", "0123456789abcdef\n", false},
		{"carriage return", "0123456789abcdef\r", false},
		// Length counts bytes: 6 two-byte characters are 12 bytes.
		{"short in bytes", "éééééé", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := secure.CheckToken(tc.tok)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckToken(%q) = %v, want ok=%v", tc.tok, err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), tc.tok) && tc.tok != "" {
				t.Errorf("CheckToken's error repeats the token: %v", err)
			}
		})
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
		ok                  bool
	}{
		{"plain", validToken, validToken, true},
		{"trailing newline", validToken + "\n", validToken, true},
		{"surrounding white space", " \t\r\n" + validToken + "\r\n\n ", validToken, true},
		{"base64 output", "q3J0c2VjcmV0K2JpdHMvZm9yLWZhcnBpcGUtdGVzdHM=\n", "q3J0c2VjcmV0K2JpdHMvZm9yLWZhcnBpcGUtdGVzdHM=", true},
		{"short", "short-token\n", "", false},
		{"empty", "", "", false},
		{"only white space", " \n\t\n", "", false},
		{"inner space", "0123456789 abcdef\n", "", false},
		{"two lines", validToken + "\n" + validToken + "\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := secure.ReadTokenFile(path)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ReadTokenFile(%q) = %q, %v; want %q, ok=%v", tc.content, got, err, tc.want, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), path) {
				t.Errorf("the error does not name the file: %v", err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		// An endless file is refused after MaxTokenFile bytes, not read to
		// the end of memory.
		if _, err := secure.ReadTokenFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "more than") {
			t.Errorf("ReadTokenFile(/dev/zero) = %v, want a refusal", err)
		}
		if _, err := secure.ReadTokenFile(filepath.Join(dir, "does-not-exist")); err == nil {
			t.Fatal("ReadTokenFile of a missing file succeeded")
		}
	})
}

func TestConfigCheck(t *testing.T) {
	pki := secure.Config{CertFile: "c.pem", KeyFile: "k.pem", CAFile: "ca.pem"}
	with := func(c secure.Config, f func(*secure.Config)) secure.Config { f(&c); return c }
	for _, tc := range []struct {
		name     string
		cfg      secure.Config
		ok       bool
		noToken  bool // the error must be ErrNoToken
		certAuth bool // Authenticator is CertAuth, else TokenAuth
	}{
		{name: "zero", cfg: secure.Config{}, noToken: true},
		{name: "token", cfg: secure.Config{Token: validToken}, ok: true},
		{name: "short token", cfg: secure.Config{Token: "short"}},
		{name: "token with space", cfg: secure.Config{Token: "0123456789 abcdef"}},
		{name: "no-encrypt with token", cfg: secure.Config{Token: validToken, NoEncrypt: true}, ok: true},
		{name: "no-encrypt without token", cfg: secure.Config{NoEncrypt: true}, noToken: true},
		{name: "certificates", cfg: pki, ok: true, certAuth: true},
		{name: "certificates and token", cfg: with(pki, func(c *secure.Config) { c.Token = validToken }), ok: true},
		{name: "certificates and short token", cfg: with(pki, func(c *secure.Config) { c.Token = "short" })},
		{name: "certificates and no-encrypt", cfg: with(pki, func(c *secure.Config) { c.NoEncrypt = true })},
		{name: "certificates, token and no-encrypt", cfg: with(pki, func(c *secure.Config) { c.Token = validToken; c.NoEncrypt = true })},
		{name: "cert only", cfg: secure.Config{CertFile: "c.pem"}},
		{name: "cert and key, no CA", cfg: secure.Config{CertFile: "c.pem", KeyFile: "k.pem"}},
		{name: "CA only", cfg: secure.Config{CAFile: "ca.pem", Token: validToken}},
		{name: "key and CA, no cert", cfg: secure.Config{KeyFile: "k.pem", CAFile: "ca.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Check()
			if (err == nil) != tc.ok {
				t.Fatalf("Check() = %v, want ok=%v", err, tc.ok)
			}
			if tc.noToken && !errors.Is(err, secure.ErrNoToken) {
				t.Fatalf("Check() = %v, want ErrNoToken", err)
			}
			if !tc.ok {
				return
			}
			switch a := tc.cfg.Authenticator().(type) {
			case secure.CertAuth:
				if !tc.certAuth {
					t.Errorf("Authenticator() = CertAuth, want TokenAuth")
				}
			case secure.TokenAuth:
				if tc.certAuth || string(a.Token) != tc.cfg.Token {
					t.Errorf("Authenticator() = TokenAuth{%q}, want certAuth=%v token %q", a.Token, tc.certAuth, tc.cfg.Token)
				}
			default:
				t.Errorf("Authenticator() = %T", a)
			}
		})
	}
}

func TestTLSConfigs(t *testing.T) {
	t.Run("no-encrypt", func(t *testing.T) {
		c := secure.Config{Token: validToken, NoEncrypt: true}
		s, err := c.ServerTLS()
		if s != nil || err != nil {
			t.Errorf("ServerTLS() = %v, %v; want nil, nil", s, err)
		}
		cl, err := c.ClientTLS("localhost")
		if cl != nil || err != nil {
			t.Errorf("ClientTLS() = %v, %v; want nil, nil", cl, err)
		}
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		if secure.Client(a, nil) != a || secure.Server(b, nil) != b {
			t.Error("Client or Server wrapped a connection without a TLS configuration")
		}
	})
	t.Run("default", func(t *testing.T) {
		c := secure.Config{Token: validToken}
		s, err := c.ServerTLS()
		if err != nil {
			t.Fatal(err)
		}
		if s.MinVersion != tls.VersionTLS13 || len(s.Certificates) != 1 || !equal(s.NextProtos, secure.ALPN) {
			t.Errorf("ServerTLS: MinVersion %x, %d certificates, ALPN %q", s.MinVersion, len(s.Certificates), s.NextProtos)
		}
		s2, _ := c.ServerTLS()
		if bytes.Equal(s.Certificates[0].Certificate[0], s2.Certificates[0].Certificate[0]) {
			t.Error("two ServerTLS calls returned the same certificate: it should be ephemeral")
		}
		cl, err := c.ClientTLS("localhost")
		if err != nil {
			t.Fatal(err)
		}
		if cl.MinVersion != tls.VersionTLS13 || !cl.InsecureSkipVerify || len(cl.Certificates) != 0 || !equal(cl.NextProtos, secure.ALPN) {
			t.Errorf("ClientTLS: MinVersion %x, InsecureSkipVerify %v, %d certificates, ALPN %q", cl.MinVersion, cl.InsecureSkipVerify, len(cl.Certificates), cl.NextProtos)
		}
	})
	t.Run("certificates", func(t *testing.T) {
		p := newPKI(t)
		srv, cli := p.server(), p.client()
		s, err := srv.ServerTLS()
		if err != nil {
			t.Fatal(err)
		}
		if s.ClientAuth != tls.RequireAndVerifyClientCert || s.ClientCAs == nil || len(s.Certificates) != 1 {
			t.Errorf("ServerTLS: ClientAuth %v, ClientCAs %v, %d certificates", s.ClientAuth, s.ClientCAs, len(s.Certificates))
		}
		cl, err := cli.ClientTLS("localhost")
		if err != nil {
			t.Fatal(err)
		}
		if cl.InsecureSkipVerify || cl.RootCAs == nil || cl.ServerName != "localhost" || len(cl.Certificates) != 1 {
			t.Errorf("ClientTLS: InsecureSkipVerify %v, RootCAs %v, ServerName %q, %d certificates", cl.InsecureSkipVerify, cl.RootCAs, cl.ServerName, len(cl.Certificates))
		}
	})
	t.Run("bad files", func(t *testing.T) {
		p := newPKI(t)
		notPEM := filepath.Join(t.TempDir(), "not.pem")
		os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600)
		for _, tc := range []struct {
			name string
			cfg  secure.Config
			want string
		}{
			{"missing cert", secure.Config{CertFile: "/nonexistent/c.pem", KeyFile: p.ServerKey, CAFile: p.CAFile}, "loading the certificate"},
			{"key of another cert", secure.Config{CertFile: p.ServerCert, KeyFile: p.ClientKey, CAFile: p.CAFile}, "loading the certificate"},
			{"missing CA", secure.Config{CertFile: p.ServerCert, KeyFile: p.ServerKey, CAFile: "/nonexistent/ca.pem"}, "reading the CA file"},
			{"CA not PEM", secure.Config{CertFile: p.ServerCert, KeyFile: p.ServerKey, CAFile: notPEM}, "no PEM certificate"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := tc.cfg.ServerTLS(); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("ServerTLS() = %v, want an error about %s", err, tc.want)
				}
				if _, err := tc.cfg.ClientTLS("localhost"); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("ClientTLS() = %v, want an error about %s", err, tc.want)
				}
			})
		}
	})
}

func equal(got []string, want ...string) bool {
	return strings.Join(got, ",") == strings.Join(want, ",")
}

// tlsPair returns the two ends of a TLS connection over loopback TCP, both
// handshaken, configured by server and client.
func tlsPair(t *testing.T, server, client *tls.Config) (s, c *tls.Conn) {
	t.Helper()
	s, c, err := tryTLSPair(server, client)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// tryTLSPair is tlsPair that returns the handshake's error instead.
func tryTLSPair(server, client *tls.Config) (s, c *tls.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type accepted struct {
		s   *tls.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- accepted{nil, err}
			return
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(nc, server)
		if err := s.Handshake(); err != nil {
			s.Close() // unblocks the client
			ch <- accepted{nil, err}
			return
		}
		nc.SetDeadline(time.Time{})
		ch <- accepted{s, nil}
	}()
	nc, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		ln.Close()
		<-ch
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c = tls.Client(nc, client)
	cerr := c.Handshake()
	if cerr != nil {
		c.Close()
	}
	a := <-ch
	if a.err != nil || cerr != nil {
		closeAll(a.s, c)
		return nil, nil, errors.Join(a.err, cerr)
	}
	nc.SetDeadline(time.Time{})
	return a.s, c, nil
}

func closeAll(cs ...net.Conn) {
	for _, c := range cs {
		if c != nil && !isNil(c) {
			c.Close()
		}
	}
}

func isNil(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	return ok && tc == nil
}

// hellos returns two distinct HELLO payloads with fresh nonces.
func hellos(t *testing.T) (d, l []byte) {
	t.Helper()
	mk := func(role wire.Role) []byte {
		h := wire.Hello{Role: role, Auth: []wire.AuthMethod{wire.AuthToken}, Window: 8 << 20}
		rand.Read(h.SessionID[:])
		rand.Read(h.Nonce[:])
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return mk(wire.RoleDialer), mk(wire.RoleListener)
}

func defaultTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	c := secure.Config{Token: validToken}
	server, err := c.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	client, err = c.ClientTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

func TestTokenAuth(t *testing.T) {
	stls, ctls := defaultTLS(t)
	s1, c1 := tlsPair(t, stls, ctls)
	s2, c2 := tlsPair(t, stls, ctls)
	p1, p2 := net.Pipe()
	defer closeAll(s1, c1, s2, c2, p1, p2)

	d, l := hellos(t)
	d2, l2 := hellos(t)
	tr := func(c net.Conn, d, l []byte) *session.Transcript {
		return &session.Transcript{Conn: c, Dialer: d, Listener: l}
	}
	same := secure.TokenAuth{Token: []byte(validToken)}
	other := secure.TokenAuth{Token: []byte(validToken + "x")}

	for _, tc := range []struct {
		name      string
		prover    secure.TokenAuth
		proveOn   *session.Transcript
		proveAs   wire.Role
		verifier  secure.TokenAuth
		verifyOn  *session.Transcript
		verifyAs  wire.Role // the role the verifier attributes to the prover
		tamper    func([]byte) []byte
		wantValid bool
	}{
		{name: "dialer proves, listener verifies", prover: same, proveOn: tr(c1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(s1, d, l), verifyAs: wire.RoleDialer, wantValid: true},
		{name: "listener proves, dialer verifies", prover: same, proveOn: tr(s1, d, l), proveAs: wire.RoleListener,
			verifier: same, verifyOn: tr(c1, d, l), verifyAs: wire.RoleListener, wantValid: true},
		{name: "without TLS", prover: same, proveOn: tr(p1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(p2, d, l), verifyAs: wire.RoleDialer, wantValid: true},
		{name: "different token", prover: other, proveOn: tr(c1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(s1, d, l), verifyAs: wire.RoleDialer},
		{name: "different token, listener proves", prover: other, proveOn: tr(s1, d, l), proveAs: wire.RoleListener,
			verifier: same, verifyOn: tr(c1, d, l), verifyAs: wire.RoleListener},
		{name: "different token without TLS", prover: other, proveOn: tr(p1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(p2, d, l), verifyAs: wire.RoleDialer},
		// A man in the middle holds two TLS sessions with different
		// exporters: a proof relayed from one does not verify on the other,
		// even with identical HELLOs.
		{name: "relayed to another TLS connection", prover: same, proveOn: tr(c1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(s2, d, l), verifyAs: wire.RoleDialer},
		{name: "listener's proof relayed to another TLS connection", prover: same, proveOn: tr(s2, d, l), proveAs: wire.RoleListener,
			verifier: same, verifyOn: tr(c1, d, l), verifyAs: wire.RoleListener},
		// Nor does a proof made without TLS verify with TLS (a downgrade).
		{name: "plain proof on a TLS connection", prover: same, proveOn: tr(p1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(s1, d, l), verifyAs: wire.RoleDialer},
		// Reflection: the listener's own proof sent back as the dialer's.
		{name: "role swapped", prover: same, proveOn: tr(s1, d, l), proveAs: wire.RoleListener,
			verifier: same, verifyOn: tr(s1, d, l), verifyAs: wire.RoleDialer},
		{name: "role swapped, dialer's proof", prover: same, proveOn: tr(c1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(c1, d, l), verifyAs: wire.RoleListener},
		// Replay on the same connection with other nonces (other HELLOs).
		{name: "other dialer HELLO", prover: same, proveOn: tr(c1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(s1, d2, l), verifyAs: wire.RoleDialer},
		{name: "other listener HELLO", prover: same, proveOn: tr(c1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(s1, d, l2), verifyAs: wire.RoleDialer},
		{name: "other HELLOs without TLS", prover: same, proveOn: tr(p1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(p2, d2, l2), verifyAs: wire.RoleDialer},
		{name: "HELLOs swapped", prover: same, proveOn: tr(c1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(s1, l, d), verifyAs: wire.RoleDialer},
		{name: "truncated proof", prover: same, proveOn: tr(c1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(s1, d, l), verifyAs: wire.RoleDialer, tamper: func(p []byte) []byte { return p[:len(p)-1] }},
		{name: "empty proof", prover: same, proveOn: tr(c1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(s1, d, l), verifyAs: wire.RoleDialer, tamper: func([]byte) []byte { return nil }},
		{name: "one bit flipped", prover: same, proveOn: tr(c1, d, l), proveAs: wire.RoleDialer,
			verifier: same, verifyOn: tr(s1, d, l), verifyAs: wire.RoleDialer, tamper: func(p []byte) []byte { p[7] ^= 0x10; return p }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proof, err := tc.prover.Prove(tc.proveOn, tc.proveAs)
			if err != nil {
				t.Fatal(err)
			}
			if len(proof) != 32 {
				t.Errorf("proof is %d bytes, want 32 (HMAC-SHA-256)", len(proof))
			}
			if bytes.Contains(proof, tc.prover.Token) {
				t.Error("the proof contains the token")
			}
			if tc.tamper != nil {
				proof = tc.tamper(append([]byte(nil), proof...))
			}
			err = tc.verifier.Verify(tc.verifyOn, tc.verifyAs, proof)
			if (err == nil) != tc.wantValid {
				t.Fatalf("Verify = %v, want valid=%v", err, tc.wantValid)
			}
		})
	}

	t.Run("fresh", func(t *testing.T) {
		// Two connections with the same HELLOs give different proofs; a
		// plain connection gives the same proof for the same HELLOs (only
		// the nonces make it fresh there).
		a, _ := same.Prove(tr(c1, d, l), wire.RoleDialer)
		b, _ := same.Prove(tr(c2, d, l), wire.RoleDialer)
		if bytes.Equal(a, b) {
			t.Error("proofs on two TLS connections are equal")
		}
		pa, _ := same.Prove(tr(p1, d, l), wire.RoleDialer)
		pb, _ := same.Prove(tr(p2, d, l), wire.RoleDialer)
		if !bytes.Equal(pa, pb) {
			t.Error("proofs on two plain connections with the same HELLOs differ")
		}
		da, _ := same.Prove(tr(c1, d, l), wire.RoleDialer)
		la, _ := same.Prove(tr(c1, d, l), wire.RoleListener)
		if bytes.Equal(da, la) {
			t.Error("the dialer's and the listener's proofs are equal")
		}
	})
	t.Run("no token", func(t *testing.T) {
		var none secure.TokenAuth
		if _, err := none.Prove(tr(c1, d, l), wire.RoleDialer); !errors.Is(err, secure.ErrNoToken) {
			t.Errorf("Prove without a token = %v, want ErrNoToken", err)
		}
		proof, _ := same.Prove(tr(c1, d, l), wire.RoleDialer)
		if err := none.Verify(tr(s1, d, l), wire.RoleDialer, proof); err == nil {
			t.Error("Verify without a token accepted a proof")
		}
	})
	t.Run("method", func(t *testing.T) {
		if same.Method() != wire.AuthToken || (secure.CertAuth{}).Method() != wire.AuthCert {
			t.Errorf("methods %d and %d, want %d and %d", same.Method(), (secure.CertAuth{}).Method(), wire.AuthToken, wire.AuthCert)
		}
	})
}

func TestCertAuth(t *testing.T) {
	p := newPKI(t)
	srv, cli := p.server(), p.client()
	srvTLS, err := srv.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	cliTLS, err := cli.ClientTLS("localhost")
	if err != nil {
		t.Fatal(err)
	}
	d, l := hellos(t)
	var ca secure.CertAuth

	t.Run("mutual TLS without a host name", func(t *testing.T) {
		// unix:// and shm:// name no host: the CA's signature suffices.
		noHost, err := cli.ClientTLS("")
		if err != nil {
			t.Fatal(err)
		}
		s, c := tlsPair(t, srvTLS, noHost)
		closeAll(s, c)
	})

	t.Run("mutual TLS", func(t *testing.T) {
		s, c := tlsPair(t, srvTLS, cliTLS)
		defer closeAll(s, c)
		for _, side := range []struct {
			name string
			conn net.Conn
			role wire.Role
		}{{"listener verifies", s, wire.RoleDialer}, {"dialer verifies", c, wire.RoleListener}} {
			tr := &session.Transcript{Conn: side.conn, Dialer: d, Listener: l}
			proof, err := ca.Prove(tr, side.role)
			if err != nil || len(proof) != 0 {
				t.Fatalf("%s: Prove = %x, %v; want an empty proof", side.name, proof, err)
			}
			if err := ca.Verify(tr, side.role, proof); err != nil {
				t.Errorf("%s: Verify = %v", side.name, err)
			}
			if err := ca.Verify(tr, side.role, []byte{1}); err == nil {
				t.Errorf("%s: Verify accepted a nonempty proof", side.name)
			}
		}
	})
	t.Run("ephemeral TLS", func(t *testing.T) {
		// The default mode's TLS verifies no certificate: CertAuth must
		// refuse it on both sides.
		stls, ctls := defaultTLS(t)
		s, c := tlsPair(t, stls, ctls)
		defer closeAll(s, c)
		for _, conn := range []net.Conn{s, c} {
			if err := ca.Verify(&session.Transcript{Conn: conn, Dialer: d, Listener: l}, wire.RoleDialer, nil); err == nil {
				t.Errorf("CertAuth accepted an unverified peer on the %T", conn)
			}
		}
	})
	t.Run("plain connection", func(t *testing.T) {
		a, b := net.Pipe()
		defer closeAll(a, b)
		if err := ca.Verify(&session.Transcript{Conn: a, Dialer: d, Listener: l}, wire.RoleDialer, nil); err == nil {
			t.Error("CertAuth accepted a connection without TLS")
		}
	})

	// Handshakes that TLS itself must refuse, so that CertAuth never sees
	// them.
	other := newPKI(t) // another CA, with certificates of its own
	for _, tc := range []struct {
		name           string
		server, client secure.Config
		serverName     string
	}{
		{"client certificate from another CA", p.server(), secure.Config{CertFile: other.ClientCert, KeyFile: other.ClientKey, CAFile: p.CAFile}, "localhost"},
		{"server certificate from another CA", secure.Config{CertFile: other.ServerCert, KeyFile: other.ServerKey, CAFile: p.CAFile}, p.client(), "localhost"},
		{"server name not in the certificate", p.server(), p.client(), "farpipe.example"},
		{"server certificate used by the client", p.server(), secure.Config{CertFile: p.ServerCert, KeyFile: p.ServerKey, CAFile: p.CAFile}, "localhost"},
		{"client certificate used by the server", secure.Config{CertFile: p.ClientCert, KeyFile: p.ClientKey, CAFile: p.CAFile}, p.client(), "localhost"},
		// A unix socket or shared memory names no host: the CA's
		// signature and the server's key usage are still checked.
		{"no host name, server certificate from another CA", secure.Config{CertFile: other.ServerCert, KeyFile: other.ServerKey, CAFile: p.CAFile}, p.client(), ""},
		{"no host name, client certificate used by the server", secure.Config{CertFile: p.ClientCert, KeyFile: p.ClientKey, CAFile: p.CAFile}, p.client(), ""},
		{"no client certificate", p.server(), secure.Config{Token: validToken}, "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := tc.server.ServerTLS()
			if err != nil {
				t.Fatal(err)
			}
			ct, err := tc.client.ClientTLS(tc.serverName)
			if err != nil {
				t.Fatal(err)
			}
			s, c, err := tryTLSPair(st, ct)
			if err == nil {
				// TLS 1.3: the client may finish before the server
				// checked its certificate; the server must still refuse.
				closeAll(s, c)
				t.Fatal("the TLS handshake succeeded")
			}
			t.Logf("refused: %v", err)
		})
	}
}

// pki is a CA and two leaf certificates it signed, as PEM files.
type pki struct {
	*testpki.PKI
	serverConf, clientConf secure.Config
}

func (p *pki) server() secure.Config { return p.serverConf }
func (p *pki) client() secure.Config { return p.clientConf }

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{PKI: testpki.New(t)}
	p.serverConf = secure.Config{CertFile: p.ServerCert, KeyFile: p.ServerKey, CAFile: p.CAFile}
	p.clientConf = secure.Config{CertFile: p.ClientCert, KeyFile: p.ClientKey, CAFile: p.CAFile}
	return p
}
