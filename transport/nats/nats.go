package nats

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/farpipe/farpipe/transport"
)

func init() {
	for scheme := range schemes {
		transport.Register(scheme, &natsTransport{scheme: scheme, pool: defaultPool})
	}
}

// Sizes of the flow control and of messages.
const (
	defaultWindow = 8 << 20  // the credit each end grants its peer
	minWindow     = 64 << 10 // the least credit a peer may grant
	maxData       = 1 << 20  // the most data bytes in one message (less if the server's max_payload is smaller)
	hdrRoom       = 64       // what a message's NATS header (hdrKey, 36 bytes) takes of the server's max_payload
)

// Timeouts of the rendezvous.
const (
	dialTimeout  = 10 * time.Second // a listener that does not answer a dial request
	probeTimeout = 2 * time.Second  // a subscriber of the name that does not answer a probe
)

// natsTransport is the relay transport for one scheme.
type natsTransport struct {
	scheme string
	pool   *pool
}

// ValidateAddr checks the syntax of a relay address.
func (t *natsTransport) ValidateAddr(raw string) error {
	_, err := parseAddr(t.scheme, raw)
	return err
}

// Rendezvous reports that both ends of a relay pipe dial out to the relay:
// "listening" only means waiting at a name on it.
func (t *natsTransport) Rendezvous() bool { return true }

// Dial asks the listener of the pipe's name for a connection. It fails at
// once, wrapping syscall.ECONNREFUSED, when nobody listens at the name.
func (t *natsTransport) Dial(ctx context.Context, raw string) (net.Conn, error) {
	a, err := parseAddr(t.scheme, raw)
	if err != nil {
		return nil, err
	}
	s, err := t.pool.get(ctx, a)
	if err != nil {
		return nil, err
	}
	c := newConn(s, t.pool, a, pipeInbox(s.nc, roleDial, a.name))
	if c.sub, err = s.nc.Subscribe(c.inbox, c.onMsg); err != nil {
		t.pool.put(s)
		return nil, fmt.Errorf("farpipe: subscribing at the relay: %w", err)
	}
	s.add(c)
	fail := func(err error) (net.Conn, error) {
		c.mu.Lock()
		c.err = err // nothing to tell the peer
		c.mu.Unlock()
		c.Close()
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	req := hello{kind: kindDial, window: c.window, inbox: c.inbox}.append(nil)
	m, err := s.nc.RequestWithContext(rctx, a.subject(), req)
	switch {
	case ctx.Err() != nil:
		return fail(fmt.Errorf("farpipe: dialing %s://%s: %w", t.scheme, a, ctx.Err()))
	case errors.Is(err, natsgo.ErrNoResponders):
		return fail(fmt.Errorf("farpipe: nobody waits at pipe %q on the relay %s: %w", a.name, a.relay(), syscall.ECONNREFUSED))
	case err != nil:
		return fail(fmt.Errorf("farpipe: dialing %s://%s: %w", t.scheme, a, err))
	}
	r, err := parseRendezvous(m.Data)
	switch {
	case err != nil:
		return fail(err)
	case r.kind == kindRefuse:
		return fail(fmt.Errorf("farpipe: the listener at %s://%s refused: %s: %w", t.scheme, a, r.reason, syscall.ECONNREFUSED))
	case r.kind != kindAccept:
		return fail(malformed("reply of kind %q to a dial", r.kind))
	}
	c.mu.Lock()
	c.peer, c.peerWin, c.allowed = r.hello.inbox, r.hello.window, uint64(r.hello.window)
	c.mu.Unlock()
	return c, nil
}

// Listen waits at the pipe's name on the relay. It fails when another
// listener waits at the same name.
func (t *natsTransport) Listen(ctx context.Context, raw string) (net.Listener, error) {
	a, err := parseAddr(t.scheme, raw)
	if err != nil {
		return nil, err
	}
	s, err := t.pool.get(ctx, a)
	if err != nil {
		return nil, err
	}
	l := &listener{t: t, a: a, s: s, accepted: make(chan *conn, acceptQueue), done: make(chan struct{})}
	rand.Read(l.id[:])
	if err := l.claim(ctx); err != nil {
		t.pool.put(s)
		return nil, err
	}
	return l, nil
}

// Connect returns the NATS connection this process uses for the relay at
// raw ("nats://HOST[:PORT]", with the login and settings a pipe address may
// carry, without a pipe name), for other uses of the relay than pipes, such
// as the rendezvous of short codes. Call release when done with it.
func Connect(ctx context.Context, raw string) (nc *natsgo.Conn, release func(), err error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || schemes[strings.ToLower(scheme)] == "" {
		return nil, nil, badAddr("farpipe: bad relay %q: write nats://HOST[:PORT] (or nats+tls://, nats+ws://, nats+wss://)", redact(raw))
	}
	scheme = strings.ToLower(scheme)
	rest, query, _ := strings.Cut(rest, "?")
	if strings.Contains(rest, "/") {
		return nil, nil, badAddr("farpipe: bad relay %q: give the server only, without a pipe name: %s://HOST[:PORT]", redact(raw), scheme)
	}
	pipe := rest + "/x"
	if query != "" {
		pipe += "?" + query
	}
	a, err := parseAddr(scheme, pipe)
	if err != nil {
		return nil, nil, err
	}
	s, err := defaultPool.get(ctx, a)
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return s.nc, func() { once.Do(func() { defaultPool.put(s) }) }, nil
}

// PipeAddr is the address of the pipe name on the relay at raw (as
// Connect takes it).
func PipeAddr(raw, name string) string {
	rest, query, ok := strings.Cut(raw, "?")
	s := strings.TrimRight(rest, "/") + "/" + name
	if ok {
		s += "?" + query
	}
	return s
}
