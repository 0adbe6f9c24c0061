package nats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	natsgo "github.com/nats-io/nats.go"
)

// acceptQueue is how many connections may wait for Accept; a dialer beyond
// that is refused as busy.
const acceptQueue = 128

// A listener waits at a pipe's name: it subscribes to the name's subject
// and answers each dial request with a new connection.
//
// Claiming the name: core NATS has no locks. Before it subscribes, a new
// listener sends a probe to the name; any listener already there answers
// it, so the new one fails. Two listeners that probe within the same round
// trip may both succeed; a dialer then reaches one of them, and the session
// layer refuses a resume that reaches the other, so their streams never mix.
type listener struct {
	t  *natsTransport
	a  addr
	s  *shared
	id [idLen]byte

	sub      *natsgo.Subscription
	accepted chan *conn
	done     chan struct{}

	mu     sync.Mutex // guards closed and sends on accepted
	closed bool
}

// claim probes the name and subscribes to it.
func (l *listener) claim(ctx context.Context) error {
	nc := l.s.nc
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	m, err := nc.RequestWithContext(pctx, l.a.subject(), appendProbe(nil, l.id[:]))
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, ctx.Err())
	case errors.Is(err, natsgo.ErrNoResponders):
		// free
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("farpipe: pipe %q on the relay %s is taken: its subscriber did not answer within %s (a busy farpipe, or not farpipe): pick another name: %w", l.a.name, l.a.relay(), probeTimeout, syscall.EADDRINUSE)
	case err != nil:
		return fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
	default:
		if r, perr := parseRendezvous(m.Data); perr != nil || r.kind != kindRefuse {
			return fmt.Errorf("farpipe: pipe %q on the relay %s is taken by something that is not this farpipe version: pick another name: %w", l.a.name, l.a.relay(), syscall.EADDRINUSE)
		}
		return fmt.Errorf("farpipe: another farpipe already waits at pipe %q on the relay %s: pick another name: %w", l.a.name, l.a.relay(), syscall.EADDRINUSE)
	}
	sub, err := nc.Subscribe(l.a.subject(), l.onRequest)
	if err != nil {
		return fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
	}
	l.sub = sub
	if err := nc.FlushWithContext(pctx); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
	}
	return nil
}

// onRequest answers the requests on the name's subject (in the
// subscription's goroutine).
func (l *listener) onRequest(m *natsgo.Msg) {
	if m.Reply == "" {
		return
	}
	r, err := parseRendezvous(m.Data)
	if err != nil {
		m.Respond(appendRefuse(nil, err.Error()))
		return
	}
	switch r.kind {
	case kindProbe:
		if !bytes.Equal(r.id, l.id[:]) {
			m.Respond(appendRefuse(nil, "in use"))
		}
	case kindDial:
		l.accept(m, r.hello)
	}
}

// accept makes the connection a dial request asks for and queues it for
// Accept.
func (l *listener) accept(m *natsgo.Msg, h hello) {
	nc := l.s.nc
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		m.Respond(appendRefuse(nil, "the listener is closing"))
		return
	}
	if len(l.accepted) == cap(l.accepted) {
		m.Respond(appendRefuse(nil, "busy: too many connections wait to be accepted"))
		return
	}
	l.s.ref() // the connection's own, dropped by its Close
	c := newConn(l.s, l.t.pool, l.a, pipeInbox(nc, roleListen, l.a.name))
	c.peer, c.peerWin, c.allowed = h.inbox, h.window, uint64(h.window)
	sub, err := nc.Subscribe(c.inbox, c.onMsg)
	if err != nil {
		l.t.pool.put(l.s)
		m.Respond(appendRefuse(nil, "cannot subscribe"))
		return
	}
	c.sub = sub
	l.s.add(c)
	if err := m.Respond(hello{kind: kindAccept, window: c.window, inbox: c.inbox}.append(nil)); err != nil {
		c.Close()
		return
	}
	l.accepted <- c // room was checked above, under mu
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accepted:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops answering dial requests and closes the connections not yet
// accepted; accepted ones stay open.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	l.sub.Unsubscribe()
	for {
		select {
		case c := <-l.accepted:
			c.Close()
		default:
			l.t.pool.put(l.s)
			return nil
		}
	}
}

func (l *listener) Addr() net.Addr { return netAddr{l.t.scheme, l.a.String()} }
