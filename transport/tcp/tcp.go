package tcp

import (
	"context"
	"fmt"
	"net"

	"github.com/farpipe/farpipe/transport"
)

// Scheme is the scheme under which this transport registers itself.
const Scheme = "tcp"

func init() {
	transport.Register(Scheme, New())
}

// tcpTransport is the TCP transport. It has no state: every Dial and Listen
// builds its own net.Dialer or net.ListenConfig.
type tcpTransport struct{}

// New returns the TCP transport, for use without the registry.
func New() transport.Transport {
	return tcpTransport{}
}

// ValidateAddr checks that addr is HOST:PORT; see transport.SplitHostPort.
func (tcpTransport) ValidateAddr(addr string) error {
	_, _, err := transport.SplitHostPort(addr)
	return err
}

// Dial connects to addr, a HOST:PORT, and returns a *net.TCPConn with
// TCP_NODELAY set and OS keepalive disabled. ctx bounds the connection
// attempt only.
func (tcpTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if _, _, err := transport.SplitHostPort(addr); err != nil {
		return nil, err
	}
	d := net.Dialer{KeepAlive: -1}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("farpipe: %w", err)
	}
	tc := c.(*net.TCPConn)
	if err := tc.SetNoDelay(true); err != nil {
		tc.Close()
		return nil, fmt.Errorf("farpipe: set TCP_NODELAY on connection to %s: %w", addr, err)
	}
	return tc, nil
}

// Listen announces addr, a HOST:PORT, and returns a *net.TCPListener whose
// accepted connections have TCP_NODELAY set (the Go default) and OS
// keepalive disabled.
func (tcpTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	if _, _, err := transport.SplitHostPort(addr); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("farpipe: %w", err)
	}
	return ln, nil
}
