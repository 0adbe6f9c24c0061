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
// Claiming the name: core NATS has no locks. A new listener claims the
// name exactly on its claim subjects (claim.go), so that of two listeners
// starting at once at most one gets the name and the other is refused,
// then sends a probe to the name's subject, which a listener of an
// earlier farpipe version there answers.
type listener struct {
	t  *natsTransport
	a  addr
	s  *shared
	id [idLen]byte

	sub      *natsgo.Subscription
	claims   []*natsgo.Subscription // natsclaim.Bits subjects that say the name is taken
	accepted chan *conn
	done     chan struct{}

	mu     sync.Mutex // guards closed, gone and sends on accepted
	closed bool
	gone   bool // the name is given up (dropClaims): claim probes are answered "gone"
}

// claim claims the name exactly (claim.go), asks the name's subject
// whether a listener of an earlier farpipe version waits there, and
// subscribes to it.
func (l *listener) claim(ctx context.Context) error {
	nc := l.s.nc
	monitored, err := l.claimExactly(ctx)
	if err != nil {
		return err
	}
	// A listener answers at once; without one, the relay answers "no
	// responders", unless a monitor got the probe.
	wait := probeTimeout
	if monitored {
		wait = claimQuiet
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	m, err := nc.RequestWithContext(pctx, l.a.subject(), appendProbe(nil, l.id[:]))
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, ctx.Err())
	case errors.Is(err, natsgo.ErrNoResponders):
		err = nil // free
	case errors.Is(err, context.DeadlineExceeded) && monitored:
		err = nil // only the monitor got it
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("farpipe: pipe %q on the relay %s is taken: its subscriber did not answer within %s (a busy farpipe, or not farpipe): pick another name: %w", l.a.name, l.a.relay(), probeTimeout, syscall.EADDRINUSE)
	case err != nil:
		err = fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
	default:
		if r, perr := parseRendezvous(m.Data); perr == nil && r.kind == kindRefuse && r.reason == claimGone {
			err = nil // that listener was closing
		} else if perr != nil || r.kind != kindRefuse {
			err = fmt.Errorf("farpipe: pipe %q on the relay %s is taken by something that is not this farpipe version: pick another name: %w", l.a.name, l.a.relay(), syscall.EADDRINUSE)
		} else {
			err = fmt.Errorf("farpipe: another farpipe already waits at pipe %q on the relay %s: pick another name: %w", l.a.name, l.a.relay(), syscall.EADDRINUSE)
		}
	}
	if err == nil {
		var sub *natsgo.Subscription
		if sub, err = nc.Subscribe(l.a.subject(), l.onRequest); err == nil {
			l.sub = sub
			fctx, cancel := context.WithTimeout(ctx, probeTimeout)
			if err = nc.FlushWithContext(fctx); err != nil {
				sub.Unsubscribe()
			}
			cancel()
		}
		if err != nil {
			err = fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
		}
	}
	if err != nil {
		l.dropClaims()
	}
	return err
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
			l.mu.Lock()
			answer := claimInUse
			if l.closed {
				answer = claimGone
			}
			l.mu.Unlock()
			m.Respond(appendRefuse(nil, answer))
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
	// Drained, not unsubscribed: a probe or dial the relay routed here
	// before it saw the unsubscription is still answered (gone, closing)
	// instead of being dropped, which would keep its sender waiting.
	l.sub.Drain()
	l.dropClaims()
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
