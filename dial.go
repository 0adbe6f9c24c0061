package farpipe

import (
	"context"
	"net"
	"strings"

	"github.com/farpipe/farpipe/secure"
	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/transport"

	// Transports available to every program that imports farpipe.
	_ "github.com/farpipe/farpipe/transport/grpc"
	_ "github.com/farpipe/farpipe/transport/nats"
	_ "github.com/farpipe/farpipe/transport/quic"
	_ "github.com/farpipe/farpipe/transport/shm"
	_ "github.com/farpipe/farpipe/transport/tcp"
	_ "github.com/farpipe/farpipe/transport/unix"
	_ "github.com/farpipe/farpipe/transport/ws"
)

// Dial connects to the farpipe listening at addr and runs the handshake:
// TLS 1.3, then both sides prove they hold the same token. addr is the
// one-time address a Listener gives ("fp://host:port/#TOKEN"), or
// "host:port" or "scheme://address" for a registered transport with the
// token given by WithToken. ctx bounds the dial and the handshake only.
//
// If the connection fails later, the Conn redials addr and resumes where it
// was, for up to the resume timeout (WithResumeTimeout); reads and writes
// just wait meanwhile.
func Dial(ctx context.Context, addr string, opts ...Option) (*Conn, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	addr, err = o.secureFor(addr, false)
	if err != nil {
		return nil, err
	}
	_, hostport, err := transport.Parse(addr)
	if err != nil {
		return nil, err
	}
	host := ""
	if !transport.IsLocal(addr) {
		host = serverName(hostport)
	}
	tc, err := o.security.ClientTLS(host)
	if err != nil {
		return nil, err
	}
	dial := func(ctx context.Context) (net.Conn, error) {
		nc, err := transport.Dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		return secure.Client(nc, tc), nil
	}
	nc, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	cfg := o.session
	cfg.Auth = o.security.Authenticator()
	cfg.Redial = dial
	s, err := session.Client(ctx, nc, &cfg)
	if err != nil {
		return nil, err
	}
	return newConn(s), nil
}

// serverName is the host of a transport address, which a dialer with
// certificates expects the listener's certificate to name (and sends as
// SNI): HOST of HOST:PORT, HOST:PORT/PATH and HOST/PATH (the scheme's
// default port, as in wss://example.org/farpipe/x), without the brackets of
// an IPv6 address and without a USER@ in front. "" where the address names
// no single host (a unix path, several relays).
func serverName(hostport string) string {
	if i := strings.IndexAny(hostport, "?#"); i >= 0 {
		hostport = hostport[:i]
	}
	if i := strings.LastIndexByte(hostport, '@'); i >= 0 {
		hostport = hostport[i+1:] // never a user name or token in SNI
	}
	if i := strings.IndexByte(hostport, '/'); i >= 0 {
		hostport = hostport[:i]
	}
	if strings.Contains(hostport, ",") {
		return ""
	}
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		return hostport[1 : len(hostport)-1]
	}
	if strings.Contains(hostport, ":") {
		return ""
	}
	return hostport
}
