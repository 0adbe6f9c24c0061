package faults

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestFrontHalfClose: a dialer that closes its writing side still reads
// what the upstream sends afterwards, and the pair ends by itself when both
// directions have.
func TestFrontHalfClose(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	served := make(chan error, 1)
	go func() { // waited for below
		c, err := up.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		got, err := io.ReadAll(c) // to the dialer's half close
		if err == nil && string(got) != "hello" {
			err = io.ErrUnexpectedEOF
		}
		for range 3 { // the other direction goes on after it
			if _, werr := c.Write([]byte("after EOF ")); werr != nil && err == nil {
				err = werr
			}
		}
		served <- err
	}()
	f, err := newFront(up.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "after EOF after EOF after EOF " {
		t.Fatalf("read %q, %v after the half close", got, err)
	}
	if err := <-served; err != nil {
		t.Fatalf("upstream: %v", err)
	}
	// Both directions have ended: the pair is gone without close (the copies
	// used to spin on EOF until then instead).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		f.mu.Lock()
		n := len(f.pairs)
		f.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pair is still open 10 s after both directions ended")
		}
	}
	f.close()
}

// TestFrontCloseEndsEveryPair: close ends the pairs that are open, and
// returns; the connections' goroutines are gone (goleak).
func TestFrontCloseEndsEveryPair(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	f, err := newFront(up.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", f.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		u, err := up.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		conns = append(conns, c)
	}
	f.close()
	for _, c := range conns {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection through the proxy is still open after close")
		}
	}
}
