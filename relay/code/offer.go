package code

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/farpipe/farpipe/internal/natsclaim"
	"github.com/nats-io/nats.go"
)

// Claiming a number.
const (
	// claimQuiet is how long a claim waits for the answer to a probe that
	// reached a subscriber (no "no responders") but got no "taken", when a
	// monitor (a wildcard subscriber such as ">", which never answers) is
	// on the relay. Without a monitor a claim waits for every answer.
	claimQuiet = 300 * time.Millisecond
	// claimTimeout bounds the wait for an offer's answer; a number whose
	// probes are not all answered then counts as taken.
	claimTimeout = 5 * time.Second
	// maxClaims is how many numbers Offer tries before ErrNoNumber.
	maxClaims = 16
	// pending is the buffer of an offer's subscription channel; a flood
	// beyond it is dropped by the NATS client (a slow consumer).
	pending = 1024
)

// An Offering is a code offered on a relay: it holds its number there and
// waits for exactly one joiner. Create it with Offer, print Code, then call
// Accept; Close releases it. Its methods are safe for concurrent use.
type Offering struct {
	// Code is the code to give the other side.
	Code Code

	nc        *nats.Conn
	cfg       config
	id        [idLen]byte
	subj      string
	sess      string
	ch        chan *nats.Msg // both subscriptions deliver here
	subs      []*nats.Subscription
	result    chan result // the serving goroutine's one outcome
	stop      chan struct{}
	done      chan struct{} // closed when the serving goroutine has ended
	closeOnce sync.Once
	accepting atomic.Bool
}

type result struct {
	sec Secret
	err error
}

// Offer makes a code of nwords words, claims a free number for it on the
// relay nc is connected to, and returns at once (a few round trips to the
// relay): print o.Code, then call Accept. From now until it is closed, the
// offer answers on farpipe.code.<N>: joiners get the offer's session
// subject, and other offers' probes (on farpipe.code.N.c.*) get "taken".
func Offer(ctx context.Context, nc *nats.Conn, nwords int, opts ...Option) (*Offering, error) {
	c, err := New(nwords)
	if err != nil {
		return nil, err
	}
	o := &Offering{
		Code:   c,
		nc:     nc,
		cfg:    newConfig(opts),
		ch:     make(chan *nats.Msg, pending),
		result: make(chan result, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	rand.Read(o.id[:])
	if err := o.claimNumber(ctx); err != nil {
		o.unsubscribe()
		return nil, err
	}
	o.subj = subject(o.Code.Number)
	o.sess = sessionSubject(o.Code.Number, o.id)
	for _, subj := range []string{o.subj, o.sess} {
		sub, err := nc.ChanSubscribe(subj, o.ch)
		if err != nil {
			o.unsubscribe()
			return nil, fmt.Errorf("farpipe: subscribing on the relay: %w", err)
		}
		o.subs = append(o.subs, sub)
	}
	// A round trip: the relay has the subscriptions before the code is
	// printed, so a joiner as fast as can be finds the offer.
	fctx, cancel := context.WithTimeout(ctx, o.cfg.step)
	defer cancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		o.unsubscribe()
		return nil, fmt.Errorf("farpipe: offering a code on the relay: %w", err)
	}
	go o.serve()
	return o, nil
}

// claimNumber tries random numbers, from a range that grows when numbers
// are taken, until it holds one. See claim for the rule.
func (o *Offering) claimNumber(ctx context.Context) error {
	inbox := o.nc.NewInbox()
	replies := make(chan *nats.Msg, pending)
	rsub, err := o.nc.ChanSubscribe(inbox+".>", replies)
	if err != nil {
		return fmt.Errorf("farpipe: subscribing on the relay: %w", err)
	}
	defer rsub.Unsubscribe()
	for attempt := range maxClaims {
		limit := o.cfg.numbers
		for range attempt / 4 {
			limit = min(limit*10+9, MaxNumber)
		}
		n := 1 + randIntn(limit)
		ok, err := o.claim(ctx, n, fmt.Sprintf("%s.%d", inbox, attempt), replies)
		if err != nil || ok {
			return err
		}
	}
	return ErrNoNumber
}

// claim tries to take number n, exactly, by package natsclaim's rule on
// the subjects farpipe.code.N.c.*, the tag being the offer id's first four
// bytes: every offer answers every probe that reaches it with "taken"
// ("gone" if it has left that number by the time it reads the probe), and
// when a monitor is seen, claimQuiet without a "taken" makes the number
// ours.
func (o *Offering) claim(ctx context.Context, n int, reply string, replies chan *nats.Msg) (bool, error) {
	tag := binary.BigEndian.Uint32(o.id[:4])
	prefix := subject(n) + ".c."
	var subs []*nats.Subscription
	var keep bool
	var err error
	defer func() {
		if keep {
			o.Code.Number = n
			o.subs = append(o.subs, subs...)
			return
		}
		// Drain, not Unsubscribe: probes the relay routed to us before it
		// saw the UNSUB still reach o.ch, and get "gone" instead of being
		// dropped by the client (their sender would wait claimTimeout).
		for _, s := range subs {
			s.Drain()
		}
	}()
	for i := range natsclaim.Bits {
		var sub *nats.Subscription
		sub, err = o.nc.ChanSubscribe(natsclaim.Own(subject(n), i, tag), o.ch)
		if err != nil {
			return false, fmt.Errorf("farpipe: subscribing on the relay: %w", err)
		}
		subs = append(subs, sub)
	}
	if err := natsclaim.Probe(o.nc, subject(n), tag, reply, message{typ: tProbe, id: o.id}.encode()); err != nil {
		return false, fmt.Errorf("farpipe: publishing on the relay: %w", err)
	}
	keep, err = o.awaitClaim(ctx, prefix, reply, replies)
	return keep, err
}

// awaitClaim collects the answers to one claim's probes: see claim.
func (o *Offering) awaitClaim(ctx context.Context, prefix, reply string, replies chan *nats.Msg) (bool, error) {
	// A round trip: the relay answered "no responders" to our probes, the
	// monitor check included, before it answers the flush, so after it
	// every such answer is in replies.
	fctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	if err := o.nc.FlushWithContext(fctx); err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("farpipe: offering a code: %w", ctx.Err())
		}
		return false, fmt.Errorf("farpipe: offering a code on the relay: %w", err)
	}
	c := natsclaim.NewTally(reply, func(data []byte) bool {
		r, err := decode(data)
		return err == nil && r.typ == tStatus && r.status == stGone // that offer had left n when it read the probe
	})
	for len(replies) > 0 {
		if done, keep := c.Add(<-replies); done {
			return keep, nil
		}
	}
	var quiet <-chan time.Time
	if c.Monitored() {
		t := time.NewTimer(claimQuiet)
		defer t.Stop()
		quiet = t.C
	}
	timeout := time.NewTimer(claimTimeout)
	defer timeout.Stop()
	for {
		select {
		case m := <-o.ch:
			if strings.HasPrefix(m.Subject, prefix) {
				o.respond(m, message{typ: tStatus, status: stTaken})
			} else {
				o.respond(m, message{typ: tStatus, status: stGone}) // a number given up
			}
		case m := <-replies:
			if done, keep := c.Add(m); done {
				return keep, nil
			}
		case <-quiet:
			// A monitor got the probes that are still unanswered: an
			// offer would have answered by now.
			return true, nil
		case <-timeout.C:
			return false, nil // an offer that does not answer still holds n
		case <-ctx.Done():
			return false, fmt.Errorf("farpipe: offering a code: %w", ctx.Err())
		}
	}
}

// respond answers m if it has a reply subject; errors are the relay
// connection's and show up where the caller waits.
func (o *Offering) respond(m *nats.Msg, reply message) {
	if m.Reply != "" {
		o.nc.Publish(m.Reply, reply.encode())
	}
}

// unsubscribe withdraws the offer's subscriptions and waits (a round trip,
// at most a second) until the relay has them gone, so that a joiner who
// comes after Accept returned is told there is no offer rather than left
// waiting for an answer.
func (o *Offering) unsubscribe() {
	for _, s := range o.subs {
		s.Unsubscribe()
	}
	if o.subs != nil {
		o.nc.FlushTimeout(time.Second)
	}
	o.subs = nil
}

// Accept waits for one joiner and runs the exchange with it: CPace with the
// code's words as the password, then key confirmation both ways. It
// returns the Secret both sides share, or ErrWrongCode if the joiner used
// other words (the code is burned: the offer closes, one guess per code).
// ctx's deadline is the code's expiry (DefaultExpiry is the usual one):
// then Accept returns ErrExpired. Accept closes the offer when it returns;
// it may be called once.
func (o *Offering) Accept(ctx context.Context) (Secret, error) {
	if !o.accepting.CompareAndSwap(false, true) {
		return Secret{}, ErrClosed
	}
	defer o.Close()
	select {
	case r := <-o.result:
		return r.sec, r.err
	case <-o.done:
		select {
		case r := <-o.result:
			return r.sec, r.err
		default:
			return Secret{}, ErrClosed
		}
	case <-ctx.Done():
		o.Close()
		select {
		case r := <-o.result:
			return r.sec, r.err
		default:
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Secret{}, ErrExpired
		}
		return Secret{}, fmt.Errorf("farpipe: waiting for the other side of code %s: %w", o.Code, ctx.Err())
	}
}

// Close withdraws the offer from the relay and ends its goroutine; it
// waits for that goroutine. It is idempotent.
func (o *Offering) Close() error {
	o.closeOnce.Do(func() { close(o.stop) })
	<-o.done
	return nil
}
