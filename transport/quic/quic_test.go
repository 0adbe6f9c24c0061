package quic_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/quic"
	"github.com/farpipe/farpipe/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, transporttest.Harness{
		Scheme:     quic.Scheme,
		ListenAddr: func(*testing.T) string { return "127.0.0.1:0" },
	})
}

func TestBadAddress(t *testing.T) {
	ctx := context.Background()
	for _, addr := range []string{"", "127.0.0.1", "127.0.0.1:99999"} {
		if _, err := quic.New().Dial(ctx, addr); !errors.Is(err, transport.ErrBadAddress) {
			t.Errorf("Dial(%q) error %v; want ErrBadAddress", addr, err)
		}
		if _, err := quic.New().Listen(ctx, addr); !errors.Is(err, transport.ErrBadAddress) {
			t.Errorf("Listen(%q) error %v; want ErrBadAddress", addr, err)
		}
	}
}

// TestDialRefusedIs checks that a dial to a UDP port nobody listens on
// fails at once with ECONNREFUSED (from the probe), not after the
// handshake timeout.
func TestDialRefusedIs(t *testing.T) {
	ln, err := quic.New().Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = quic.New().Dial(context.Background(), addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial to a closed port: error %v; want errors.Is ECONNREFUSED", err)
	}
}

// TestDialEmptyHost checks that ":PORT" dials this host, as it does for tcp.
func TestDialEmptyHost(t *testing.T) {
	ln, err := quic.New().Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := quic.New().Dial(context.Background(), ":"+port)
	if err != nil {
		ln.Close()
		<-accepted
		t.Fatalf("Dial(%q): %v", ":"+port, err)
	}
	a := <-accepted
	if a == nil {
		c.Close()
		t.Fatal("Accept failed")
	}
	c.Close()
	a.Close()
}
