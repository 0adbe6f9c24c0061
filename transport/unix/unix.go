//go:build unix || windows

package unix

import (
	"context"
	"fmt"
	"net"

	"github.com/farpipe/farpipe/transport"
)

// Scheme is the scheme under which this transport registers itself.
const Scheme = "unix"

func init() {
	transport.Register(Scheme, New())
}

// unixTransport is the Unix socket transport. It has no state.
type unixTransport struct{}

// New returns the Unix socket transport, for use without the registry.
func New() transport.Transport {
	return unixTransport{}
}

// Local reports that unix sockets never leave the host.
func (unixTransport) Local() bool { return true }

// ValidateAddr checks that addr is an absolute path that fits in sun_path.
func (unixTransport) ValidateAddr(addr string) error {
	return validatePath(addr)
}

// Dial connects to the socket at the absolute path addr and returns a
// *net.UnixConn. ctx bounds the connection attempt only.
func (unixTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if err := validatePath(addr); err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		return nil, fmt.Errorf("farpipe: %w", err)
	}
	return c, nil
}

// Listen creates a socket at the absolute path addr, first removing a stale
// socket left there by a listener that died, and returns a listener whose
// Close removes the socket file if it is still the one it created. See the
// package documentation for what happens when the path is taken.
func (unixTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	if err := validatePath(addr); err != nil {
		return nil, err
	}
	if err := clearStale(ctx, addr); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", addr)
	if err != nil {
		return nil, fmt.Errorf("farpipe: %w", err)
	}
	return newListener(ln.(*net.UnixListener), addr), nil
}
