//go:build !unix && !windows

package unix

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"

	"github.com/farpipe/farpipe/transport"
)

// Scheme is the scheme under which this transport registers itself.
const Scheme = "unix"

// ErrUnsupported is returned by Dial and Listen on platforms without Unix
// domain sockets. It wraps errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("farpipe: Unix sockets are not supported on %s: use a tcp:// address: %w", runtime.GOOS, errors.ErrUnsupported)

func init() {
	transport.Register(Scheme, New())
}

// unixTransport is a stand-in that fails with ErrUnsupported, registered so
// that a unix:// address gets a clear error instead of "unknown transport".
type unixTransport struct{}

// New returns the Unix socket transport, for use without the registry.
func New() transport.Transport {
	return unixTransport{}
}

// Dial fails with ErrUnsupported.
func (unixTransport) Dial(context.Context, string) (net.Conn, error) {
	return nil, ErrUnsupported
}

// Listen fails with ErrUnsupported.
func (unixTransport) Listen(context.Context, string) (net.Listener, error) {
	return nil, ErrUnsupported
}
