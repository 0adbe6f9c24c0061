package tcp_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/tcp"
	"github.com/farpipe/farpipe/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformanceIPv4(t *testing.T) {
	if !nettest.SupportsIPv4() {
		t.Skip("IPv4 loopback 127.0.0.1 is unavailable on this host")
	}
	transporttest.Run(t, transporttest.Harness{
		Scheme:     tcp.Scheme,
		ListenAddr: func(*testing.T) string { return "127.0.0.1:0" },
	})
}

func TestConformanceIPv6(t *testing.T) {
	if !nettest.SupportsIPv6() {
		t.Skip("IPv6 loopback [::1] is unavailable on this host (no ::1 on lo, or IPv6 disabled); the tcp suite ran over 127.0.0.1 only")
	}
	transporttest.Run(t, transporttest.Harness{
		Scheme:     tcp.Scheme,
		ListenAddr: func(*testing.T) string { return "[::1]:0" },
	})
}

// pair returns a dialed and an accepted connection over 127.0.0.1 through
// tcp.New, closed at the end of the test.
func pair(t *testing.T) (d, a net.Conn, ln net.Listener) {
	t.Helper()
	tr := tcp.New()
	ln, err := tr.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err = tr.Dial(context.Background(), ln.Addr().String())
	if err != nil {
		ln.Close()
		<-accepted
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	a = <-accepted
	if a == nil {
		t.Fatal("Accept failed")
	}
	t.Cleanup(func() { a.Close() })
	return d, a, ln
}

// TestConcreteTypes checks that connections and listeners are returned
// unwrapped, so callers keep CloseWrite and the zero-copy paths.
func TestConcreteTypes(t *testing.T) {
	d, a, ln := pair(t)
	if _, ok := ln.(*net.TCPListener); !ok {
		t.Errorf("Listen returned %T, want *net.TCPListener", ln)
	}
	if _, ok := d.(*net.TCPConn); !ok {
		t.Errorf("Dial returned %T, want *net.TCPConn", d)
	}
	if _, ok := a.(*net.TCPConn); !ok {
		t.Errorf("Accept returned %T, want *net.TCPConn", a)
	}
}

func TestRegistered(t *testing.T) {
	if _, ok := transport.Lookup(tcp.Scheme); !ok {
		t.Fatalf("scheme %q is not registered", tcp.Scheme)
	}
}

func TestBadAddress(t *testing.T) {
	ctx := context.Background()
	for _, addr := range []string{"", "127.0.0.1", "::1", "127.0.0.1:99999", "localhost:http"} {
		if _, err := tcp.New().Dial(ctx, addr); !errors.Is(err, transport.ErrBadAddress) {
			t.Errorf("Dial(%q) error %v; want ErrBadAddress", addr, err)
		}
		if _, err := tcp.New().Listen(ctx, addr); !errors.Is(err, transport.ErrBadAddress) {
			t.Errorf("Listen(%q) error %v; want ErrBadAddress", addr, err)
		}
	}
}

// TestDialErrorWraps checks that Dial errors keep the net error for
// errors.As, under the farpipe prefix.
func TestDialErrorWraps(t *testing.T) {
	_, _, ln := pair(t)
	addr := ln.Addr().String()
	ln.Close()
	_, err := tcp.New().Dial(context.Background(), addr)
	var op *net.OpError
	if !errors.As(err, &op) || !strings.HasPrefix(err.Error(), "farpipe: dial tcp ") {
		t.Errorf("Dial to closed port: error %v (%T); want \"farpipe: dial tcp ...\" wrapping *net.OpError", err, err)
	}
}
