package session

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/farpipe/farpipe/transport"
)

// optConn is a connection with the session's optional interfaces, which
// counts their use.
type optConn struct {
	*net.TCPConn
	idle           func() bool
	idles, uncorks atomic.Int64
	corked         atomic.Bool
	explain        error
}

func (c *optConn) Idle() bool {
	c.idles.Add(1)
	return c.idle()
}
func (c *optConn) Cork() { c.corked.Store(true) }
func (c *optConn) Uncork() error {
	c.corked.Store(false)
	c.uncorks.Add(1)
	return nil
}
func (c *optConn) ExplainHandshake(err error) error { return c.explain }

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); acc <- c }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestOptionalInterfaces: the session uses what the connection it was
// given offers (Idler, Corker, HandshakeExplainer), and nothing under it.
func TestOptionalInterfaces(t *testing.T) {
	t.Run("Idler and Corker", func(t *testing.T) {
		a, b := tcpPair(t)
		ca := &optConn{TCPConn: a, idle: transport.IdleFunc(a)}
		if ca.idle == nil {
			t.Skip("the kernel cannot tell whether a socket is idle here")
		}
		cb := &optConn{TCPConn: b, idle: transport.IdleFunc(b)}
		ctx := context.Background()
		srv := make(chan *Session, 1)
		go func() {
			s, err := Server(ctx, cb, nil)
			if err != nil {
				t.Error(err)
			}
			srv <- s
		}()
		c, err := Client(ctx, ca, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := <-srv
		if s == nil {
			c.fail(errFinished)
			c.Wait()
			t.FailNow()
		}
		defer func() {
			c.fail(errFinished)
			s.fail(errFinished)
			c.Wait()
			s.Wait()
		}()
		go io.Copy(s.Stream(0), s.Stream(0)) // echo
		msg := make([]byte, 64)
		for range 50 {
			if _, err := c.Stream(0).Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c.Stream(0), msg); err != nil {
				t.Fatal(err)
			}
		}
		if ca.idles.Load() == 0 {
			t.Error("Idle was never asked")
		}
		if ca.uncorks.Load() == 0 || cb.uncorks.Load() == 0 {
			t.Error("the writeLoop never corked")
		}
	})
	t.Run("HandshakeExplainer", func(t *testing.T) {
		a, b := tcpPair(t)
		b.Close() // the peer's handshake fails
		want := errors.New("explained")
		_, err := Client(context.Background(), &optConn{TCPConn: a, explain: want}, nil)
		if !errors.Is(err, want) {
			t.Fatalf("got %v, want the connection's explanation", err)
		}
	})
}

// idleConn is a TCP connection that says when it is idle, as package
// secure's are: small Writes then write their own frames.
type idleConn struct {
	*net.TCPConn
	idle func() bool
}

func (c *idleConn) Idle() bool { return c.idle() }

// withIdle gives c an Idler if the kernel can tell.
func withIdle(c net.Conn) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		if idle := transport.IdleFunc(tc); idle != nil {
			return &idleConn{tc, idle}
		}
	}
	return c
}
