package transport_test

import (
	"net"
	"testing"
	"time"

	"github.com/farpipe/farpipe/transport"
)

// TestIdleFunc: a fresh loopback connection is idle; one whose peer does
// not read, after a large write, is not (Linux only).
func TestIdleFunc(t *testing.T) {
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
	defer c.Close()
	peer := <-acc
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close()
	idle := transport.IdleFunc(c.(*net.TCPConn))
	if idle == nil {
		t.Skip("the kernel cannot tell here")
	}
	if !idle() {
		t.Fatal("a fresh connection is not idle")
	}
	// Fill the peer's receive buffer and our send buffer: bytes stay queued.
	c.(*net.TCPConn).SetWriteBuffer(64 << 10)
	peer.(*net.TCPConn).SetReadBuffer(64 << 10)
	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond)) // the write stops at the deadline
	c.Write(make([]byte, 1<<20))
	if idle() {
		t.Fatal("a connection with bytes queued is idle")
	}
}
