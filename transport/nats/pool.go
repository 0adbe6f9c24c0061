package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// A process keeps one NATS connection per relay (servers and login) for all
// its listeners and connections on it, as NATS clients should. The pool
// counts its users and closes it when the last one is done.
//
// When that NATS connection drops, every farpipe connection on it is broken
// at once (its Read and Write fail), so that the session above resumes
// without waiting for its keepalive; listeners stay, and nats.go reconnects
// and subscribes them again. Dial fails at once while the connection is
// down; the session's dialer retries.
//
// Lock order: pool.mu, then shared.mu, then conn.mu.
type pool struct {
	mu    sync.Mutex
	conns map[string]*shared
	known map[string][]string // servers a cluster told us about, by key
}

var defaultPool = &pool{
	conns: make(map[string]*shared),
	known: make(map[string][]string),
}

// shared is one NATS connection and the farpipe connections on it.
type shared struct {
	nc  *natsgo.Conn
	key string

	mu    sync.Mutex
	refs  int
	conns map[*conn]struct{}
}

// Reconnection settings of the shared connection: try often, so that data
// flows again soon after a relay restarts.
const (
	reconnectWait   = 100 * time.Millisecond
	reconnectJitter = 100 * time.Millisecond
	connectTimeout  = 5 * time.Second
)

// get returns the shared connection for a, connecting if there is none,
// with one more reference to it.
func (p *pool) get(ctx context.Context, a addr) (*shared, error) {
	key := a.key()
	p.mu.Lock()
	if s := p.conns[key]; s != nil {
		s.ref()
		p.mu.Unlock()
		return s, nil
	}
	servers := append(slices.Clone(a.servers), p.known[key]...)
	p.mu.Unlock()

	// Connect without the pool's lock: connecting takes a round trip or a
	// timeout. Two callers may both connect; the second keeps the first's.
	s := &shared{key: key, conns: make(map[*conn]struct{})}
	opts := []natsgo.Option{
		natsgo.Name("farpipe"),
		natsgo.DontRandomize(), // the servers given first, in order, then those the cluster told of
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(reconnectWait),
		natsgo.ReconnectJitter(reconnectJitter, reconnectJitter),
		natsgo.ReconnectBufSize(-1), // fail writes while disconnected: the session resends
		natsgo.Timeout(connectTimeout),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) { s.breakAll(err) }),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
			if errors.Is(err, natsgo.ErrSlowConsumer) {
				s.breakAll(err)
			}
		}),
	}
	opts = append(opts, a.options()...)
	nc, err := p.dial(ctx, a, servers, opts)
	if err != nil {
		return nil, err
	}
	s.nc = nc
	s.refs = 1

	p.mu.Lock()
	defer p.mu.Unlock()
	if other := p.conns[key]; other != nil {
		nc.Close()
		other.ref()
		return other, nil
	}
	p.conns[key] = s
	return s, nil
}

// dial connects to the first of servers that answers. ctx bounds the
// connection attempts (the TCP connections; the NATS handshake after each is
// bounded by connectTimeout), not the reconnections that follow.
func (p *pool) dial(ctx context.Context, a addr, servers []string, opts []natsgo.Option) (*natsgo.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("farpipe: connecting to the relay: %w", err)
	}
	d := &ctxDialer{}
	d.ctx.Store(&ctx)
	o := natsgo.GetDefaultOptions()
	o.Servers = servers
	o.CustomDialer = d
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("farpipe: relay address %s: %w", a, err)
		}
	}
	nc, err := o.Connect()
	bg := context.Background()
	d.ctx.Store(&bg)
	switch {
	case ctx.Err() != nil:
		if nc != nil {
			nc.Close()
		}
		return nil, fmt.Errorf("farpipe: connecting to the relay: %w", ctx.Err())
	case errors.Is(err, natsgo.ErrAuthorization):
		return nil, fmt.Errorf("farpipe: the relay at %s refused the login: give its token or user in the address, nats://TOKEN@HOST/NAME or nats://USER:PASSWORD@HOST/NAME (%w)", a.relay(), err)
	case err != nil:
		return nil, fmt.Errorf("farpipe: cannot reach the relay at %s: %w", strings.Join(a.servers, ","), err)
	}
	return nc, nil
}

// ctxDialer makes the TCP connections of a NATS connection: under the
// caller's context while connecting, without one when reconnecting.
type ctxDialer struct {
	ctx atomic.Pointer[context.Context]
}

func (d *ctxDialer) Dial(network, address string) (net.Conn, error) {
	nd := net.Dialer{Timeout: connectTimeout}
	return nd.DialContext(*d.ctx.Load(), network, address)
}

// put drops a reference; the last one closes the NATS connection and
// remembers the servers it knew of, so that the next connection can reach
// another member of the cluster when the first one is gone.
func (p *pool) put(s *shared) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.mu.Lock()
	s.refs--
	last := s.refs == 0
	s.mu.Unlock()
	if !last {
		return
	}
	if p.conns[s.key] == s {
		delete(p.conns, s.key)
	}
	if d := s.nc.DiscoveredServers(); len(d) > 0 {
		p.known[s.key] = d
	}
	// Drained: what the relay sent before it saw the unsubscriptions
	// (a probe of the name just given up) is still handled and answered
	// before the connection closes, a moment later.
	if err := s.nc.Drain(); err != nil {
		s.nc.Close()
	}
}

// ref takes one more reference to s; pool.put drops it.
func (s *shared) ref() {
	s.mu.Lock()
	s.refs++
	s.mu.Unlock()
}

// add registers c so that breakAll reaches it.
func (s *shared) add(c *conn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *shared) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// breakAll breaks every connection on s: the relay connection dropped, or
// messages were lost.
func (s *shared) breakAll(err error) {
	if err == nil {
		err = errors.New("connection closed")
	}
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.fail(fmt.Errorf("farpipe: lost the connection to the relay (%v): %w", err, syscall.ECONNRESET))
	}
}

// options returns the nats.go options for a's login and files.
func (a addr) options() []natsgo.Option {
	var o []natsgo.Option
	switch {
	case a.hasPass:
		o = append(o, natsgo.UserInfo(a.user, a.pass))
	case a.user != "":
		o = append(o, natsgo.Token(a.user))
	}
	if f := a.query.Get("creds"); f != "" {
		o = append(o, natsgo.UserCredentials(f))
	}
	if f := a.query.Get("ca"); f != "" {
		o = append(o, natsgo.RootCAs(f))
	}
	if f := a.query.Get("cert"); f != "" {
		o = append(o, natsgo.ClientCert(f, a.query.Get("key")))
	}
	return o
}
