package farpipe_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/internal/testpki"
	"github.com/farpipe/farpipe/secure"
	"github.com/farpipe/farpipe/wire"
)

// captureRecorder is a TCP forwarder that records every byte it forwards, per
// direction: what an eavesdropper on the path sees.
type captureRecorder struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu       sync.Mutex
	toLn     bytes.Buffer // dialer -> listener
	toDialer bytes.Buffer // listener -> dialer
	conns    []net.Conn
	// cutAt, if positive, cuts the first connection once that many bytes
	// went from the dialer to the listener: the dialer then resumes.
	cutAt  int
	cut    bool
	closed bool
}

func newCaptureRecorder(t *testing.T, target string, cutAt int) *captureRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &captureRecorder{ln: ln, target: target, cutAt: cutAt}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.Close)
	return r
}

func (r *captureRecorder) Addr() string { return r.ln.Addr().String() }

func (r *captureRecorder) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, u)
		if r.closed { // Close ran between Accept and now
			c.Close()
			u.Close()
		}
		r.mu.Unlock()
		var both sync.WaitGroup
		both.Add(2)
		copyHalf := func(dst, src net.Conn, rec *bytes.Buffer) {
			defer r.wg.Done()
			defer both.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					r.mu.Lock()
					rec.Write(buf[:n])
					cut := r.cutAt > 0 && !r.cut && r.toLn.Len() >= r.cutAt
					if cut {
						r.cut = true
					}
					r.mu.Unlock()
					if cut {
						c.Close()
						u.Close()
						return
					}
					if _, werr := dst.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					dst.(*net.TCPConn).CloseWrite()
					return
				}
			}
		}
		r.wg.Add(3)
		go copyHalf(u, c, &r.toLn)
		go copyHalf(c, u, &r.toDialer)
		go func() {
			defer r.wg.Done()
			both.Wait()
			c.Close()
			u.Close()
		}()
	}
}

// Close stops the forwarder, cuts its connections and waits for its
// goroutines.
func (r *captureRecorder) Close() {
	r.ln.Close()
	r.mu.Lock()
	r.closed = true
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// captured returns copies of the bytes recorded in each direction.
func (r *captureRecorder) captured() (toLn, toDialer []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.toLn.Bytes()), bytes.Clone(r.toDialer.Bytes())
}

// capturePayload is 1 MiB of a distinctive 64-byte pattern, then a secret.
func capturePayload() (payload, pattern, secret []byte) {
	pattern = []byte("farpipe-capture-test::0123456789::THE-QUICK-BROWN-FOX::pattern!!")
	if len(pattern) != 64 {
		panic(len(pattern))
	}
	secret = []byte("the launch code is 0000-farpipe-secret-string")
	payload = append(bytes.Repeat(pattern, (1<<20)/len(pattern)), secret...)
	return payload, pattern, secret
}

// captureExchange sends payload from d to a and from a to d at once, closes both
// writing sides, drains, and checks what each side read.
func captureExchange(t *testing.T, d, a *farpipe.Conn, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range []*farpipe.Conn{d, a} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := c.Write(payload); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			if err := c.CloseWrite(); err != nil {
				t.Errorf("CloseWrite: %v", err)
				return
			}
			if err := c.Drain(ctx); err != nil {
				t.Errorf("Drain: %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			got, err := io.ReadAll(c)
			if err != nil {
				t.Errorf("read: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("read %d bytes (sha256 %x), want %d (sha256 %x)", len(got), sha256.Sum256(got), len(payload), sha256.Sum256(payload))
			}
		}()
	}
	wg.Wait()
}

// captureClosePipe closes both Conns, waits until they have said goodbye, and
// closes the listener.
func captureClosePipe(t *testing.T, ln *farpipe.Listener, cs ...*farpipe.Conn) {
	t.Helper()
	for _, c := range cs {
		c.Close()
	}
	for _, c := range cs {
		select {
		case <-c.Done():
			if err := c.Err(); err != nil {
				t.Errorf("the pipe did not end cleanly: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the pipe did not end within 10 s of Close")
			c.Abort("test over")
		}
	}
	ln.Close()
}

// captureAcceptOne accepts one Conn from ln in the background.
func captureAcceptOne(ln *farpipe.Listener) <-chan *farpipe.Conn {
	ch := make(chan *farpipe.Conn, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, _ := ln.Accept(ctx)
		ch <- c
	}()
	return ch
}

// TestCapture checks what an eavesdropper on the path sees: in the default
// mode neither the stream nor the token, with --no-encrypt the stream (that
// mode really is unencrypted) but still not the token. The "resumed" cases
// cut the connection after 256 KiB, so that the capture also holds a
// resumption handshake.
func TestCapture(t *testing.T) {
	payload, pattern, secret := capturePayload()
	for _, mode := range []struct {
		name      string
		opts      []farpipe.Option
		plaintext bool // the stream may be seen on the wire
		cutAt     int
	}{
		{"default", nil, false, 0},
		{"default resumed", nil, false, 256 << 10},
		{"no-encrypt", []farpipe.Option{farpipe.WithNoEncrypt()}, true, 0},
		{"no-encrypt resumed", []farpipe.Option{farpipe.WithNoEncrypt()}, true, 256 << 10},
	} {
		t.Run(mode.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ln, err := farpipe.Listen(ctx, "127.0.0.1:0", mode.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			rec := newCaptureRecorder(t, ln.Addr().String(), mode.cutAt)
			// The listener's one-time address, with the captureRecorder in the
			// middle.
			url := strings.Replace(ln.URL(), ln.Addr().String(), rec.Addr(), 1)
			if url == ln.URL() || !strings.HasSuffix(url, "/#"+ln.Token()) {
				t.Fatalf("cannot route %s through %s", ln.URL(), rec.Addr())
			}
			accepted := captureAcceptOne(ln)
			d, err := farpipe.Dial(ctx, url, mode.opts...)
			if err != nil {
				t.Fatal(err)
			}
			a := <-accepted
			if a == nil {
				d.Abort("test over")
				t.Fatal("Accept failed")
			}
			captureExchange(t, d, a, payload)
			if n := d.Stats().Reconnects; (n > 0) != (mode.cutAt > 0) {
				t.Errorf("%d reconnects", n)
			}
			captureClosePipe(t, ln, d, a)
			rec.Close()

			toLn, toDialer := rec.captured()
			for _, dir := range []struct {
				name string
				b    []byte
			}{{"dialer to listener", toLn}, {"listener to dialer", toDialer}} {
				if len(dir.b) < len(payload) {
					t.Fatalf("%s: recorded %d bytes, less than the %d-byte payload: the captureRecorder missed traffic", dir.name, len(dir.b), len(payload))
				}
				tok := ln.Token()
				raw, _ := base64.RawURLEncoding.DecodeString(tok)
				if bytes.Contains(dir.b, []byte(tok)) || len(raw) == 0 || bytes.Contains(dir.b, raw) {
					t.Errorf("%s: the token crossed the wire", dir.name)
				}
				sawPattern, sawSecret := captureContainsWindow(dir.b, pattern, 16), bytes.Contains(dir.b, secret)
				if mode.plaintext {
					if !bytes.Contains(dir.b, pattern) || !sawSecret {
						t.Errorf("%s: --no-encrypt, but the payload is not visible on the wire: pattern %v, secret %v", dir.name, bytes.Contains(dir.b, pattern), sawSecret)
					}
					continue
				}
				if sawPattern || sawSecret {
					t.Errorf("%s: plaintext on the wire: 16 bytes of the pattern %v, the secret %v", dir.name, sawPattern, sawSecret)
				}
				if dir.b[0] != 0x16 { // a TLS handshake record
					t.Errorf("%s: the first byte is %#x, not a TLS handshake record", dir.name, dir.b[0])
				}
			}
		})
	}
}

// captureContainsWindow reports whether b contains any n consecutive bytes of
// the endless repetition of pattern.
func captureContainsWindow(b, pattern []byte, n int) bool {
	pp := append(bytes.Clone(pattern), pattern...)
	for i := range pattern {
		if bytes.Contains(b, pp[i:i+n]) {
			return true
		}
	}
	return false
}

// TestManInTheMiddle: an active attacker on the path terminates TLS on
// both sides (the dialer does not verify the ephemeral certificate, so it
// can) and relays the farpipe handshake between its two TLS sessions. The
// proofs are bound to each session's exporter, so the dialer refuses the
// listener's relayed proof; it never sends its own proof, and the listener
// reports a failed authentication.
func TestManInTheMiddle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logged := make(captureErrLog, 8)
	ln, err := farpipe.Listen(ctx, "127.0.0.1:0", logged.opt())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := captureAcceptOne(ln)

	// The attacker's own certificate, as a farpipe listener would make it.
	mitmCfg := secure.Config{Token: secure.NewToken()}
	serverTLS, err := mitmCfg.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := mitmCfg.ClientTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	mitm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mitm.Close()
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		fromDialer  []byte // plaintext the attacker saw from the dialer
		conns       []net.Conn
		relayedAuth = make(chan bool, 1)
	)
	defer func() {
		mitm.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		raw, err := mitm.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			raw.Close()
			return
		}
		down, upTLS := tls.Server(raw, serverTLS), tls.Client(up, clientTLS)
		mu.Lock()
		conns = append(conns, down, upTLS)
		mu.Unlock()
		// Relay the plaintext farpipe frames both ways.
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(down, upTLS)
			down.Close()
		}()
		buf := make([]byte, 4096)
		for {
			n, err := down.Read(buf)
			mu.Lock()
			fromDialer = append(fromDialer, buf[:n]...)
			mu.Unlock()
			if n > 0 {
				if _, werr := upTLS.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		upTLS.Close()
		relayedAuth <- true
	}()

	url := strings.Replace(ln.URL(), ln.Addr().String(), mitm.Addr().String(), 1)
	d, err := farpipe.Dial(ctx, url)
	if err == nil {
		d.Abort("test over")
		t.Fatal("Dial through a man in the middle succeeded")
	}
	if !errors.Is(err, farpipe.ErrAuth) {
		t.Errorf("Dial: %v, want ErrAuth", err)
	}
	if lerr := logged.wait(t); !errors.Is(lerr, farpipe.ErrAuth) {
		t.Errorf("the listener reported %v, want ErrAuth", lerr)
	}
	select {
	case <-relayedAuth:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not end")
	}
	ln.Close()
	if c := <-accepted; c != nil {
		c.Abort("test over")
		t.Error("the listener accepted the relayed connection")
	}

	// What the dialer sent: its HELLO, then no AUTH (it refused the
	// listener first), at most an ABORT.
	mu.Lock()
	b := bytes.Clone(fromDialer)
	mu.Unlock()
	var types []wire.Type
	for len(b) >= wire.HeaderLen {
		h, err := wire.ParseHeader(b[:wire.HeaderLen])
		if err != nil {
			t.Fatalf("the dialer's frames: %v", err)
		}
		types = append(types, h.Type)
		b = b[min(len(b), wire.HeaderLen+int(h.Length)):]
	}
	if len(types) == 0 || types[0] != wire.TypeHello || slices.Contains(types, wire.TypeAuth) {
		t.Errorf("the dialer sent frames %v through the man in the middle; want a HELLO and no AUTH", types)
	}
	t.Logf("the dialer sent %v", types)
	if bytes.Contains(fromDialer, []byte(ln.Token())) {
		t.Error("the token crossed the wire")
	}
}

// TestURLCarriesToken: Listener.URL is accepted by Dial as is, whatever
// valid token the listener was given (here tokens of base64 and of URL
// syntax).
func TestURLCarriesToken(t *testing.T) {
	for _, tok := range []string{
		"q3J0c2VjcmV0K2JpdHMvZm9yLWZhcnBpcGUtdGVzdHM=", // head -c 32 /dev/urandom | base64
		"0123456789abcdef#?/+&=",
		"100%-farpipe-token",
	} {
		t.Run(tok, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ln, err := farpipe.Listen(ctx, "127.0.0.1:0", farpipe.WithToken(tok))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := captureAcceptOne(ln)
			d, err := farpipe.Dial(ctx, ln.URL())
			if err != nil {
				t.Fatalf("Dial(%q) with the listener's token %q: %v", ln.URL(), tok, err)
			}
			a := <-accepted
			if a == nil {
				d.Abort("test over")
				t.Fatal("Accept failed")
			}
			captureExchange(t, d, a, []byte("hello"))
			captureClosePipe(t, ln, d, a)
		})
	}
}

// capturePKI is a CA and two leaf certificates it signed, as PEM files.
type capturePKI struct {
	*testpki.PKI
}

func newCapturePKI(t *testing.T) *capturePKI {
	t.Helper()
	p := &capturePKI{PKI: testpki.New(t)}
	return p
}

func (p *capturePKI) serverOpt() farpipe.Option {
	return farpipe.WithCertificates(p.ServerCert, p.ServerKey, p.CAFile)
}

func (p *capturePKI) clientOpt() farpipe.Option {
	return farpipe.WithCertificates(p.ClientCert, p.ClientKey, p.CAFile)
}

// captureErrLog collects the errors a Listener reports.
type captureErrLog chan error

func (l captureErrLog) opt() farpipe.Option {
	return farpipe.WithErrorLog(func(err error) {
		select {
		case l <- err:
		default:
		}
	})
}

func (l captureErrLog) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-l:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("the listener reported no error within 15 s")
		return nil
	}
}

// TestMutualTLS runs farpipe with certificates from a test CA, without a
// token, over 127.0.0.1, and checks that certificates the listener or the
// dialer must not accept are refused on both sides.
func TestMutualTLS(t *testing.T) {
	p := newCapturePKI(t)
	other := newCapturePKI(t) // another CA with certificates of its own
	payload, _, _ := capturePayload()

	t.Run("transfer", func(t *testing.T) {
		// unix:// and shm:// name no host: the listener's certificate is
		// checked against the CA only (before, every such dial failed).
		tcp := func(host string) func(*farpipe.Listener) string {
			return func(ln *farpipe.Listener) string {
				_, port, _ := net.SplitHostPort(ln.Addr().String())
				return net.JoinHostPort(host, port)
			}
		}
		type place struct {
			name, listen string
			dial         func(*farpipe.Listener) string
		}
		places := []place{{"127.0.0.1", "127.0.0.1:0", tcp("127.0.0.1")}, {"localhost", "127.0.0.1:0", tcp("localhost")}}
		if runtime.GOOS == "linux" {
			for _, addr := range []string{"unix://" + filepath.Join(t.TempDir(), "s"), fmt.Sprintf("shm://farpipe-mtls-%d", os.Getpid())} {
				places = append(places, place{addr[:strings.Index(addr, ":")], addr, func(*farpipe.Listener) string { return addr }})
			}
		}
		for _, pl := range places {
			t.Run(pl.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				logged := make(captureErrLog, 8)
				ln, err := farpipe.Listen(ctx, pl.listen, p.serverOpt(), logged.opt())
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				if ln.Token() != "" {
					t.Errorf("a listener with certificates made up a token: %q", ln.Token())
				}
				accepted := captureAcceptOne(ln)
				d, err := farpipe.Dial(ctx, pl.dial(ln), p.clientOpt())
				if err != nil {
					ln.Close()
					<-accepted
					t.Fatal(err)
				}
				a := <-accepted
				if a == nil {
					d.Abort("test over")
					t.Fatal("Accept failed")
				}
				captureExchange(t, d, a, payload)
				captureClosePipe(t, ln, d, a)
				select {
				case err := <-logged:
					t.Errorf("the listener reported: %v", err)
				default:
				}
			})
		}
	})

	t.Run("listener certificate from another CA on this host", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("skipping: local transports are tested on Linux")
		}
		addr := "unix://" + filepath.Join(t.TempDir(), "o")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ln, err := farpipe.Listen(ctx, addr, farpipe.WithCertificates(other.ServerCert, other.ServerKey, p.CAFile))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := captureAcceptOne(ln)
		if d, err := farpipe.Dial(ctx, addr, p.clientOpt()); !errors.Is(err, farpipe.ErrAuth) {
			if err == nil {
				d.Abort("test over")
			}
			t.Errorf("Dial to a listener with another CA's certificate over unix://: %v, want ErrAuth", err)
		}
		ln.Close()
		<-accepted
	})

	t.Run("certificates and token", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			dialTok  string
			wantAuth bool
		}{
			{"same token", "", false},
			{"another token", farpipe.NewToken(), true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				tok := farpipe.NewToken()
				dialTok := tok
				if tc.dialTok != "" {
					dialTok = tc.dialTok
				}
				logged := make(captureErrLog, 8)
				ln, err := farpipe.Listen(ctx, "127.0.0.1:0", p.serverOpt(), farpipe.WithToken(tok), logged.opt())
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				accepted := captureAcceptOne(ln)
				d, err := farpipe.Dial(ctx, ln.Addr().String(), p.clientOpt(), farpipe.WithToken(dialTok))
				if tc.wantAuth {
					if !errors.Is(err, farpipe.ErrAuth) {
						t.Errorf("Dial with another token: %v, want ErrAuth", err)
					}
					if err == nil {
						d.Abort("test over")
					}
					if lerr := logged.wait(t); !errors.Is(lerr, farpipe.ErrAuth) {
						t.Errorf("the listener reported %v, want ErrAuth", lerr)
					}
					ln.Close()
					<-accepted
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				a := <-accepted
				if a == nil {
					d.Abort("test over")
					t.Fatal("Accept failed")
				}
				captureExchange(t, d, a, []byte("hello"))
				captureClosePipe(t, ln, d, a)
			})
		}
	})

	// Each of these must fail the Dial, and the listener must report it.
	for _, tc := range []struct {
		name     string
		listen   []farpipe.Option
		dial     []farpipe.Option
		dialHost string
	}{
		{name: "dialer certificate from another CA", listen: []farpipe.Option{p.serverOpt()},
			dial: []farpipe.Option{farpipe.WithCertificates(other.ClientCert, other.ClientKey, p.CAFile)}},
		{name: "listener certificate from another CA", listen: []farpipe.Option{farpipe.WithCertificates(other.ServerCert, other.ServerKey, p.CAFile)},
			dial: []farpipe.Option{p.clientOpt()}},
		{name: "dialer trusts another CA", listen: []farpipe.Option{p.serverOpt()},
			dial: []farpipe.Option{farpipe.WithCertificates(p.ClientCert, p.ClientKey, other.CAFile)}},
		{name: "dialer without certificate", listen: []farpipe.Option{p.serverOpt(), farpipe.WithToken("0123456789abcdef-shared")},
			dial: []farpipe.Option{farpipe.WithToken("0123456789abcdef-shared")}},
		{name: "listener without certificate", listen: []farpipe.Option{farpipe.WithToken("0123456789abcdef-shared")},
			dial: []farpipe.Option{p.clientOpt(), farpipe.WithToken("0123456789abcdef-shared")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			logged := make(captureErrLog, 8)
			ln, err := farpipe.Listen(ctx, "127.0.0.1:0", append(tc.listen, logged.opt())...)
			if err != nil {
				t.Fatal(err)
			}
			accepted := captureAcceptOne(ln)
			d, err := farpipe.Dial(ctx, ln.Addr().String(), tc.dial...)
			if err == nil {
				d.Abort("test over")
				ln.Close()
				<-accepted
				t.Fatal("Dial succeeded")
			}
			lerr := logged.wait(t)
			ln.Close()
			if c := <-accepted; c != nil {
				c.Abort("test over")
				t.Error("the listener accepted the connection")
			}
			// ErrAuth is documented to match "a certificate was refused",
			// on either side, and the command maps it to exit status 6
			// ("or a certificate was refused").
			t.Run("reported as ErrAuth", func(t *testing.T) {
				if !errors.Is(err, farpipe.ErrAuth) {
					t.Errorf("the dialer's error does not match ErrAuth: %v", err)
				}
				if !errors.Is(lerr, farpipe.ErrAuth) {
					t.Errorf("the listener's error does not match ErrAuth: %v", lerr)
				}
			})
		})
	}
}
