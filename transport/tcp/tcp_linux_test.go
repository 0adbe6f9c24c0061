package tcp_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/farpipe/farpipe/transport/tcp"
)

// sockopt reads an integer socket option of c.
func sockopt(t *testing.T, c net.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatalf("SyscallConn: %v", err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatalf("Control: %v", err)
	}
	if serr != nil {
		t.Fatalf("getsockopt: %v", serr)
	}
	return v
}

// TestSocketOptions checks TCP_NODELAY on and SO_KEEPALIVE off on both
// ends: the session layer has its own keepalives.
func TestSocketOptions(t *testing.T) {
	d, a, _ := pair(t)
	for name, c := range map[string]net.Conn{"dialed": d, "accepted": a} {
		if v := sockopt(t, c, unix.IPPROTO_TCP, unix.TCP_NODELAY); v == 0 {
			t.Errorf("%s conn: TCP_NODELAY is off", name)
		}
		if v := sockopt(t, c, unix.SOL_SOCKET, unix.SO_KEEPALIVE); v != 0 {
			t.Errorf("%s conn: SO_KEEPALIVE is on; the session layer does keepalives", name)
		}
	}
}

func TestDialRefusedIs(t *testing.T) {
	_, _, ln := pair(t)
	addr := ln.Addr().String()
	ln.Close()
	_, err := tcp.New().Dial(context.Background(), addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial to closed port: error %v; want errors.Is ECONNREFUSED", err)
	}
}
