package code

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Claiming a number.
const (
	// claimGrace is added to twice the probe's echo time before an offer
	// takes an unanswered number as its own.
	claimGrace = 20 * time.Millisecond
	// claimTimeout bounds the wait for the probe's own echo.
	claimTimeout = 5 * time.Second
	// maxClaims is how many numbers Offer tries before ErrNoNumber.
	maxClaims = 16
	// pending is the buffer of an offer's subscription channel; a flood
	// beyond it is dropped by the NATS client (a slow consumer).
	pending = 64
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
// offer answers on farpipe.code.<N>: other offers' probes get "taken",
// joiners get the offer's session subject.
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
	o.sess = sessionSubject(o.Code.Number, o.id)
	sub, err := nc.ChanSubscribe(o.sess, o.ch)
	if err != nil {
		o.unsubscribe()
		return nil, fmt.Errorf("farpipe: subscribing on the relay: %w", err)
	}
	o.subs = append(o.subs, sub)
	go o.serve()
	return o, nil
}

// claimNumber tries random numbers, from a range that grows when numbers
// are taken, until it holds one. See claim for the rule.
func (o *Offering) claimNumber(ctx context.Context) error {
	inbox := o.nc.NewInbox()
	replies := make(chan *nats.Msg, pending)
	rsub, err := o.nc.ChanSubscribe(inbox+".*", replies)
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

// claim tries to take number n. It subscribes to farpipe.code.N, then
// publishes a probe carrying the offer's id there, with reply subject
// reply. Another offer that receives the probe answers "taken". The number
// is ours when our own probe has come back through our subscription (the
// echo) and no "taken" came within claimGrace plus twice the echo time. A
// rival's probe that reaches us before our own echo means the rival
// subscribed first: we leave silently. Of two offers claiming n at once,
// the relay orders their probes, so the later prober always receives the
// earlier one's probe or its "taken": at most one keeps n (docs/codes.md).
func (o *Offering) claim(ctx context.Context, n int, reply string, replies chan *nats.Msg) (bool, error) {
	subj := subject(n)
	sub, err := o.nc.ChanSubscribe(subj, o.ch)
	if err != nil {
		return false, fmt.Errorf("farpipe: subscribing on the relay: %w", err)
	}
	probe := message{typ: tProbe, id: o.id}.encode()
	start := time.Now()
	if err := o.nc.PublishMsg(&nats.Msg{Subject: subj, Reply: reply, Data: probe}); err != nil {
		sub.Unsubscribe()
		return false, fmt.Errorf("farpipe: publishing on the relay: %w", err)
	}
	timeout := time.NewTimer(claimTimeout)
	defer timeout.Stop()
	var grace <-chan time.Time
	keep := false
	defer func() {
		if keep {
			o.subj, o.Code.Number = subj, n
			o.subs = append(o.subs, sub)
		} else {
			sub.Unsubscribe()
		}
	}()
	for {
		select {
		case m := <-o.ch:
			if m.Subject != subj {
				continue // left over from a number given up
			}
			msg, err := decode(m.Data)
			if err != nil || msg.typ != tProbe {
				continue // joiners wait until the number is ours
			}
			if msg.id != o.id {
				if grace == nil {
					return false, nil // the rival was there first
				}
				o.respond(m, message{typ: tStatus, status: stTaken})
			} else if grace == nil {
				grace = time.After(claimGrace + 2*time.Since(start))
			}
		case m := <-replies:
			if msg, err := decode(m.Data); err == nil && m.Subject == reply &&
				msg.typ == tStatus && msg.status == stTaken {
				return false, nil
			}
		case <-grace:
			keep = true
			return true, nil
		case <-timeout.C:
			return false, fmt.Errorf("%w: the relay did not echo a message within %v", ErrNoNumber, claimTimeout)
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

func (o *Offering) unsubscribe() {
	for _, s := range o.subs {
		s.Unsubscribe()
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
