package farpipe

import (
	"context"
	"net"

	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/transport"

	// Transports available to every program that imports farpipe.
	_ "github.com/farpipe/farpipe/transport/tcp"
)

// Dial connects to the farpipe listening at addr and runs the handshake.
// addr is "host:port" or "scheme://address" for a registered transport
// ("tcp://host:port"). ctx bounds the dial and the handshake only.
//
// If the connection fails later, the Conn redials addr and resumes where it
// was, for up to the resume timeout (WithResumeTimeout); reads and writes
// just wait meanwhile.
func Dial(ctx context.Context, addr string, opts ...Option) (*Conn, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	nc, err := transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	cfg := o.session
	cfg.Redial = func(ctx context.Context) (net.Conn, error) { return transport.Dial(ctx, addr) }
	s, err := session.Client(ctx, nc, &cfg)
	if err != nil {
		return nil, err
	}
	return newConn(s), nil
}
