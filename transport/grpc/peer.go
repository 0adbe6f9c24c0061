package grpc

import (
	"context"
	"net"

	"google.golang.org/grpc/peer"
)

// peerAddr returns the address of the dialer of the call of ctx.
func peerAddr(ctx context.Context) (net.Addr, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return nil, false
	}
	return p.Addr, true
}
