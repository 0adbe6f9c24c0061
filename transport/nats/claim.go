package nats

import (
	"context"
	"encoding/binary"
	"fmt"
	"syscall"
	"time"

	"github.com/farpipe/farpipe/internal/natsclaim"
	natsgo "github.com/nats-io/nats.go"
)

// Claiming a pipe's name exactly, the way relay/code claims a code's
// number: package natsclaim's rule on the subjects farpipe.pipe.NAME.c.*,
// the tag being the listener id's first four bytes. A probe of the name's
// own subject, which a listener subscribes to, would reach the prober too.
// Every listener answers every claim probe that reaches it "in use"
// ("gone" once it is closing); of two listeners claiming at once at most
// one keeps the name, and both may give up. When a monitor on ">" is seen,
// claimQuiet without an "in use" makes the name ours.
const claimQuiet = 300 * time.Millisecond

// Answers to a claim's probe.
const (
	claimInUse = "in use"
	claimGone  = "gone"
)

// claimExactly subscribes l to its claim subjects and probes the others';
// it keeps the subscriptions (l.claims) only if the name is l's. It
// reports whether a monitor received a probe.
func (l *listener) claimExactly(ctx context.Context) (monitored bool, err error) {
	nc := l.s.nc
	tag := binary.BigEndian.Uint32(l.id[:4])
	defer func() {
		if err != nil {
			l.dropClaims()
		}
	}()
	for i := range natsclaim.Bits {
		sub, err := nc.Subscribe(natsclaim.Own(l.a.subject(), i, tag), l.onClaim)
		if err != nil {
			return false, fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
		}
		l.claims = append(l.claims, sub)
	}
	inbox := nc.NewInbox()
	replies := make(chan *natsgo.Msg, natsclaim.Bits+8)
	rsub, err := nc.ChanSubscribe(inbox+".>", replies)
	if err != nil {
		return false, fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
	}
	defer rsub.Unsubscribe()
	if err := natsclaim.Probe(nc, l.a.subject(), tag, inbox, appendProbe(nil, l.id[:])); err != nil {
		return false, fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
	}
	// The relay answers "no responders" before it answers the flush, so
	// after it every such answer is in replies.
	fctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, ctx.Err())
		}
		return false, fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
	}
	taken := fmt.Errorf("farpipe: another farpipe already waits at pipe %q on the relay %s: pick another name: %w", l.a.name, l.a.relay(), syscall.EADDRINUSE)
	tally := natsclaim.NewTally(inbox, func(data []byte) bool {
		r, err := parseRendezvous(data)
		return err == nil && r.kind == kindRefuse && r.reason == claimGone // that listener was closing
	})
	count := func(m *natsgo.Msg) (done bool, err error) {
		done, keep := tally.Add(m)
		if done && !keep {
			return true, taken
		}
		return done, nil
	}
	for len(replies) > 0 {
		if done, err := count(<-replies); done {
			return tally.Monitored(), err
		}
	}
	var quiet <-chan time.Time
	if tally.Monitored() {
		t := time.NewTimer(claimQuiet)
		defer t.Stop()
		quiet = t.C
	}
	timeout := time.NewTimer(probeTimeout)
	defer timeout.Stop()
	for {
		select {
		case m := <-replies:
			if done, err := count(m); done {
				return tally.Monitored(), err
			}
		case <-quiet:
			return true, nil // a monitor got the probes still unanswered: a listener would have answered by now
		case <-timeout.C:
			return false, fmt.Errorf("farpipe: pipe %q on the relay %s is taken: its subscriber did not answer within %s (a busy farpipe, or not farpipe): pick another name: %w", l.a.name, l.a.relay(), probeTimeout, syscall.EADDRINUSE)
		case <-ctx.Done():
			return false, fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, ctx.Err())
		}
	}
}

// onClaim answers a probe of another listener claiming the name (in the
// subscription's goroutine).
func (l *listener) onClaim(m *natsgo.Msg) {
	if m.Reply == "" {
		return
	}
	l.mu.Lock()
	gone := l.closed || l.gone
	l.mu.Unlock()
	answer := claimInUse
	if gone {
		answer = claimGone
	}
	m.Respond(appendRefuse(nil, answer))
}

// dropClaims gives the name up: probes the relay routed here before it
// saw the unsubscription are still answered ("gone") rather than dropped,
// which would keep their sender waiting. A listener whose claim failed
// gives it up too, and must not answer "in use" while it drains.
func (l *listener) dropClaims() {
	l.mu.Lock()
	l.gone = true
	l.mu.Unlock()
	for _, s := range l.claims {
		s.Drain()
	}
	l.claims = nil
}
