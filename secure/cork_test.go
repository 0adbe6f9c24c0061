package secure

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// socketPair returns the two ends of a loopback TCP or Unix connection.
func socketPair(t *testing.T, network string) (a, b net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); acc <- c }()
	a, err = net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// nothingArrives checks that c has nothing to read for a short while.
func nothingArrives(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	if n, err := c.Read(b[:]); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d bytes (%v) before Uncork", n, err)
	}
}

func TestCorkConn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []int // sizes written while corked
	}{
		{"nothing", nil},
		{"small records", []int{5, 16 << 10, 22}},
		{"more than the buffer", []int{200 << 10, 100 << 10, 300 << 10}},
		{"one huge write", []int{1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketPair(t, "tcp")
			c := &corkConn{Conn: a}
			var want bytes.Buffer
			c.Cork()
			for i, n := range tc.writes {
				p := bytes.Repeat([]byte{byte(i + 1)}, n)
				if m, err := c.Write(p); m != n || err != nil {
					t.Fatalf("corked write: %d, %v", m, err)
				}
				want.Write(p)
			}
			if want.Len() < corkSize {
				nothingArrives(t, b) // all of it held back
			}
			got := make(chan []byte)
			size := want.Len() + len("tail")
			b.SetReadDeadline(time.Now().Add(10 * time.Second))
			go func() {
				p := make([]byte, size)
				n, _ := io.ReadFull(b, p)
				got <- p[:n]
			}()
			if err := c.Uncork(); err != nil {
				t.Fatal(err)
			}
			// Uncorked, writes go straight through.
			if _, err := c.Write([]byte("tail")); err != nil {
				t.Fatal(err)
			}
			want.WriteString("tail")
			if g := <-got; !bytes.Equal(g, want.Bytes()) {
				t.Fatalf("received %d bytes, want %d in the order written", len(g), want.Len())
			}
		})
	}
}

func TestCorkConnReadsThroughBuffer(t *testing.T) {
	a, b := socketPair(t, "tcp")
	c := &corkConn{Conn: b}
	msg := bytes.Repeat([]byte("farpipe "), 100<<10)
	go func() { a.Write(msg); a.Close() }()
	got, err := io.ReadAll(io.LimitReader(c, int64(len(msg))+1))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(msg))
	}
}

func TestCorkConnWriteError(t *testing.T) {
	a, b := socketPair(t, "tcp")
	c := &corkConn{Conn: a}
	b.Close()
	a.Close()
	c.Cork()
	c.Write([]byte("lost"))
	if err := c.Uncork(); err == nil {
		t.Fatal("Uncork on a closed connection returned no error")
	}
}

// messageConn is a connection that gathers its own writes and reads from
// memory, as the relay's transport does: it records what corkConn asks of
// it.
type messageConn struct {
	net.Conn
	calls  []string
	writes []int
	reads  []int // len(p) of each Read
}

func (c *messageConn) Cork()          { c.calls = append(c.calls, "cork") }
func (c *messageConn) Uncork() error  { c.calls = append(c.calls, "uncork"); return nil }
func (c *messageConn) Buffered() bool { return true }
func (c *messageConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, len(p))
	return len(p), nil
}
func (c *messageConn) Read(p []byte) (int, error) {
	c.reads = append(c.reads, len(p))
	return len(p), nil
}

// TestCorkConnOverMessages checks that corkConn leaves gathering and
// buffering to a connection that does both itself: each would copy every
// byte once more.
func TestCorkConnOverMessages(t *testing.T) {
	mc := &messageConn{}
	c := newCorkConn(mc)
	c.Cork()
	c.Write(make([]byte, 100))
	c.Write(make([]byte, 200))
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	c.Read(make([]byte, 5))
	if want := []string{"cork", "uncork"}; !slices.Equal(mc.calls, want) {
		t.Errorf("calls on the connection %v, want %v", mc.calls, want)
	}
	if want := []int{100, 200}; !slices.Equal(mc.writes, want) {
		t.Errorf("writes of %v bytes reached the connection, want %v: straight through", mc.writes, want)
	}
	if want := []int{5}; !slices.Equal(mc.reads, want) {
		t.Errorf("reads of %v bytes asked of the connection, want %v: no buffer between", mc.reads, want)
	}
}
