package ws_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/farpipe/farpipe/internal/testpki"
	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/transporttest"
	"github.com/farpipe/farpipe/transport/ws"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	pki := testpki.New(t)
	for _, tc := range []struct {
		name, scheme, listen, dialQuery string
		v6                              bool
	}{
		{"WS", ws.Scheme, "127.0.0.1:0/farpipe/conformance", "", false},
		{"WSIPv6", ws.Scheme, "[::1]:0/farpipe/conformance", "", true},
		{"WSS", ws.SecureScheme, "127.0.0.1:0/farpipe/conformance?cert=" + pki.ServerCert + "&key=" + pki.ServerKey, "?ca=" + pki.CAFile, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.v6 && !nettest.SupportsIPv6() {
				t.Skip("IPv6 loopback [::1] is unavailable on this host")
			}
			transporttest.Run(t, transporttest.Harness{
				Scheme:     tc.scheme,
				ListenAddr: func(*testing.T) string { return tc.listen },
				DialAddr:   func(ln net.Listener) string { return ln.Addr().String() + tc.dialQuery },
				LargeSize:  16 << 20,
			})
		})
	}
}

// listen opens a ws listener on loopback, closed at the end of the test.
func listen(t *testing.T, raw string) net.Listener {
	t.Helper()
	ln, err := transport.Listen(context.Background(), raw)
	if err != nil {
		t.Fatalf("Listen(%q): %v", raw, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestOtherPaths checks that the listener answers 404 beside its path and
// 200 to a plain GET of its path, and that dialing a wrong path fails with
// the HTTP status in the error.
func TestOtherPaths(t *testing.T) {
	ln := listen(t, "ws://127.0.0.1:0/farpipe/x")
	hostPort := strings.TrimSuffix(ln.Addr().String(), "/farpipe/x")
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/farpipe/x", http.StatusOK},
		{"/farpipe/y", http.StatusNotFound},
		{"/", http.StatusNotFound},
		{"/farpipe/x/", http.StatusNotFound},
	} {
		resp, err := http.Get("http://" + hostPort + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: status %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	_, err := transport.Dial(context.Background(), "ws://"+hostPort+"/farpipe/y")
	if err == nil || !strings.HasPrefix(err.Error(), "farpipe: ") || !strings.Contains(err.Error(), "404") {
		t.Errorf("Dial to a wrong path: error %v; want a farpipe: error naming 404", err)
	}
}

// TestDialContextOnlyBoundsDial checks that cancelling the context of Dial
// after it returned leaves the connection working: the session layer
// cancels the context of a redial as soon as it has its connection.
func TestDialContextOnlyBoundsDial(t *testing.T) {
	ln := listen(t, "ws://127.0.0.1:0/p")
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := transport.Dial(ctx, "ws://"+ln.Addr().String())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a := <-accepted
	if a == nil {
		t.Fatal("Accept failed")
	}
	defer a.Close()
	for _, dir := range []struct{ from, to net.Conn }{{d, a}, {a, d}} {
		if _, err := dir.from.Write([]byte("after cancel")); err != nil {
			t.Fatalf("Write after the dial's context was cancelled: %v", err)
		}
		buf := make([]byte, len("after cancel"))
		if _, err := io.ReadFull(dir.to, buf); err != nil {
			t.Fatalf("Read after the dial's context was cancelled: %v", err)
		}
	}
}

func TestListenErrors(t *testing.T) {
	pki := testpki.New(t)
	for _, tc := range []struct {
		raw  string
		want error // nil: any farpipe: error
	}{
		{"wss://127.0.0.1:0/p", transport.ErrBadAddress},
		{"wss://127.0.0.1:0/p?ca=" + pki.CAFile, transport.ErrBadAddress},
		{"wss://127.0.0.1:0/p?cert=" + pki.ServerCert + "&key=/nonexistent/key.pem", nil},
	} {
		ln, err := transport.Listen(context.Background(), tc.raw)
		if err == nil {
			ln.Close()
			t.Errorf("Listen(%q) succeeded", tc.raw)
			continue
		}
		if !strings.HasPrefix(err.Error(), "farpipe: ") || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("Listen(%q): error %v; want a farpipe: error wrapping %v", tc.raw, err, tc.want)
		}
	}
}

// TestWSSUnknownCA checks that a wss dialer refuses a certificate that
// neither the system nor ?ca= vouches for.
func TestWSSUnknownCA(t *testing.T) {
	pki := testpki.New(t)
	ln := listen(t, "wss://127.0.0.1:0/p?cert="+pki.ServerCert+"&key="+pki.ServerKey)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	_, err := transport.Dial(context.Background(), "wss://"+ln.Addr().String())
	var uerr x509.UnknownAuthorityError
	if err == nil || !strings.HasPrefix(err.Error(), "farpipe: ") || !errors.As(err, &uerr) {
		t.Errorf("Dial of a wss listener with an unknown CA: error %v; want a farpipe: error wrapping x509.UnknownAuthorityError", err)
	}
}

// TestDropIsNotEOF checks that a WebSocket whose connection ends without a
// closure (a crash, a proxy killed) makes the peer's Read fail, never
// return io.EOF as if the stream had ended, and that a Close does give
// io.EOF.
func TestDropIsNotEOF(t *testing.T) {
	ln := listen(t, "ws://127.0.0.1:0/p")
	for _, tc := range []struct {
		name    string
		end     func(c net.Conn)
		wantEOF bool
	}{
		{"Close", func(c net.Conn) { c.Close() }, true},
		{"Drop", func(c net.Conn) { ws.Drop(c) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			accepted := make(chan net.Conn, 1)
			go func() {
				c, _ := ln.Accept()
				accepted <- c
			}()
			d, err := transport.Dial(context.Background(), "ws://"+ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			a := <-accepted
			if a == nil {
				t.Fatal("Accept failed")
			}
			defer a.Close()
			if _, err := a.Write([]byte("data")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(d, buf); err != nil {
				t.Fatal(err)
			}
			tc.end(a)
			_, err = d.Read(buf)
			if gotEOF := err == io.EOF; gotEOF != tc.wantEOF || err == nil || errors.Is(err, io.EOF) != tc.wantEOF {
				t.Errorf("Read after the peer's %s: %v; want io.EOF: %v", tc.name, err, tc.wantEOF)
			}
		})
	}
}
