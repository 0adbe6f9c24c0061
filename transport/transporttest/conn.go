package transporttest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// role picks which end of a connected pair sends ("from") and which
// receives ("to"), so each test runs with client and server roles reversed.
type role struct {
	name string
	pick func(d, a net.Conn) (from, to net.Conn)
}

var roles = []role{
	{"DialerToListener", func(d, a net.Conn) (net.Conn, net.Conn) { return d, a }},
	{"ListenerToDialer", func(d, a net.Conn) (net.Conn, net.Conn) { return a, d }},
}

// forRoles runs fn as one guarded subtest per role.
func forRoles(t *testing.T, s *suite, fn func(t *testing.T, e *env, from, to net.Conn)) {
	for _, r := range roles {
		t.Run(r.name, func(t *testing.T) {
			s.guard(t, func(t *testing.T, e *env) {
				from, to := r.pick(e.pair(t))
				fn(t, e, from, to)
			})
		})
	}
}

// send writes data on from in a goroutine while reading exactly len(data)
// bytes from to, and fails the test if they differ. Writing concurrently
// keeps it correct for transports whose Write blocks until the peer reads.
func send(t *testing.T, from, to net.Conn, data []byte) {
	t.Helper()
	werr := make(chan error, 1)
	go func() {
		_, err := from.Write(data)
		werr <- err
	}()
	got := make([]byte, len(data))
	_, rerr := io.ReadFull(to, got)
	if err := <-werr; err != nil {
		t.Fatalf("Write of %d bytes: %v", len(data), err)
	}
	if rerr != nil {
		t.Fatalf("Read of %d bytes: %v", len(data), rerr)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes differ from those sent", len(data))
	}
}

func testAddrs(t *testing.T, e *env) {
	ln := e.listen(t)
	if ln.Addr() == nil {
		t.Error("Listener.Addr() is nil")
	}
	d, a, err := e.connect(ln)
	if err != nil {
		t.Fatalf("connecting a pair: %v", err)
	}
	for _, c := range []struct {
		name string
		conn net.Conn
	}{{"dialed", d}, {"accepted", a}} {
		if c.conn.LocalAddr() == nil {
			t.Errorf("%s conn: LocalAddr() is nil", c.name)
		}
		if c.conn.RemoteAddr() == nil {
			t.Errorf("%s conn: RemoteAddr() is nil", c.name)
		}
	}
}

// testBytesBothWays sends messages of growing size from one end, then
// answers each from the other.
func testBytesBothWays(t *testing.T, s *suite) {
	forRoles(t, s, func(t *testing.T, e *env, from, to net.Conn) {
		for _, n := range []int{1, 7, 1500, 64 << 10, 1 << 20} {
			msg := bytes.Repeat([]byte(fmt.Sprintf("%d;", n)), n)[:n]
			send(t, from, to, msg)
			send(t, to, from, bytes.ToUpper(msg))
		}
	})
}

// testCloseGivesEOF checks that bytes written before Close are delivered,
// that the peer then reads io.EOF (or at least an error) instead of
// hanging, and that the closed end refuses further Read and Write.
func testCloseGivesEOF(t *testing.T, s *suite) {
	forRoles(t, s, func(t *testing.T, e *env, from, to net.Conn) {
		last := []byte("last words")
		werr := make(chan error, 1)
		go func() {
			_, err := from.Write(last)
			if cerr := from.Close(); err == nil {
				err = cerr
			}
			werr <- err
		}()
		got, err := io.ReadAll(to)
		if err != nil {
			t.Logf("peer Read after Close returned %v, want io.EOF (accepted: it is an error)", err)
		}
		if !bytes.Equal(got, last) {
			t.Errorf("peer read %q before EOF, want %q", got, last)
		}
		if err := <-werr; err != nil {
			t.Fatalf("Write+Close: %v", err)
		}
		if _, err := from.Write([]byte("x")); err == nil {
			t.Error("Write on a closed conn succeeded")
		}
		if _, err := from.Read(make([]byte, 1)); err == nil {
			t.Error("Read on a closed conn succeeded")
		}
	})
}

// testCloseUnblocksRead checks that Close unblocks a Read pending on the
// same conn, and that the peer then sees EOF.
func testCloseUnblocksRead(t *testing.T, s *suite) {
	forRoles(t, s, func(t *testing.T, e *env, from, to net.Conn) {
		rerr := make(chan error, 1)
		go func() {
			_, err := from.Read(make([]byte, 1))
			rerr <- err
		}()
		time.Sleep(20 * time.Millisecond) // let Read block
		if err := from.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-rerr; err == nil {
			t.Error("Read pending during Close returned no error")
		}
		if _, err := to.Read(make([]byte, 1)); err == nil {
			t.Error("peer Read after Close returned no error")
		}
	})
}

// closeWriter is implemented by connections that can half-close.
type closeWriter interface{ CloseWrite() error }

// testCloseWrite checks half-close where the connection offers CloseWrite:
// the peer reads EOF and can still answer.
func testCloseWrite(t *testing.T, s *suite) {
	forRoles(t, s, func(t *testing.T, e *env, from, to net.Conn) {
		cw, ok := from.(closeWriter)
		if !ok {
			t.Skipf("%T has no CloseWrite; half-close is left to the session layer", from)
		}
		req, resp := []byte("request"), []byte("response")
		werr := make(chan error, 1)
		go func() {
			_, err := from.Write(req)
			if err == nil {
				err = cw.CloseWrite()
			}
			werr <- err
		}()
		got, err := io.ReadAll(to)
		if werr := <-werr; werr != nil {
			t.Fatalf("Write+CloseWrite: %v", werr)
		}
		if err != nil || !bytes.Equal(got, req) {
			t.Fatalf("peer read %q, %v; want %q, EOF", got, err, req)
		}
		go func() {
			_, err := to.Write(resp)
			if cerr := to.Close(); err == nil {
				err = cerr
			}
			werr <- err
		}()
		got, err = io.ReadAll(from)
		if werr := <-werr; werr != nil {
			t.Fatalf("peer Write+Close after CloseWrite: %v", werr)
		}
		if err != nil || !bytes.Equal(got, resp) {
			t.Fatalf("read %q, %v after CloseWrite; want %q, EOF", got, err, resp)
		}
	})
}
