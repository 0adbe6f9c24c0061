package farpipe

import (
	"context"

	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/transport"

	// Transports available to every program that imports farpipe.
	_ "github.com/farpipe/farpipe/transport/tcp"
)

// Dial connects to the farpipe listening at addr and runs the handshake.
// addr is "host:port" or "scheme://address" for a registered transport
// ("tcp://host:port"). ctx bounds the dial and the handshake only.
func Dial(ctx context.Context, addr string, opts ...Option) (*Conn, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	nc, err := transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	s, err := session.Client(ctx, nc, &o.session)
	if err != nil {
		return nil, err
	}
	return newConn(s), nil
}
