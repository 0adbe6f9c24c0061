package nats

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"syscall"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Claiming a pipe's name exactly, the way relay/code claims a code's
// number (docs/codes.md has the argument). Core NATS has no locks, and a
// probe of the name's own subject, which a listener subscribes to, reaches
// the prober too; so each listener also subscribes to claimBits subjects
// NAME.c.<i>.<bit i of its id>, and a new one, once subscribed to its own,
// sends one probe to each NAME.c.<i>.<the other value of bit i>: these
// reach every other listener of NAME (its id differs in some bit) and
// never the sender. Every listener answers every probe that reaches it
// "in use" ("gone" once it is closing). The name is the new listener's
// when the relay answers every probe "no responders" (or the listener
// there was going). Of two listeners claiming at once, each subscribed
// before it probed, so the relay routes the later prober's probe to the
// earlier one: at most one keeps the name, and both may give up.
//
// A probe that only a subscriber which is no listener receives (a monitor
// on ">") gets no answer: when a monitor is seen (a probe to NAME.c.m.m,
// which no listener subscribes to, is not "no responders"), claimQuiet
// without an "in use" makes the name ours.
const (
	claimBits  = 32
	claimQuiet = 300 * time.Millisecond
)

// Answers to a claim's probe.
const (
	claimInUse = "in use"
	claimGone  = "gone"
)

// claimSubject is farpipe.pipe.NAME.c.<bit>.<value>.
func (a addr) claimSubject(bit int, value uint32) string {
	return fmt.Sprintf("%s.c.%d.%d", a.subject(), bit, value)
}

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
	for i := range claimBits {
		sub, err := nc.Subscribe(l.a.claimSubject(i, tag>>i&1), l.onClaim)
		if err != nil {
			return false, fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
		}
		l.claims = append(l.claims, sub)
	}
	inbox := nc.NewInbox()
	replies := make(chan *natsgo.Msg, claimBits+8)
	rsub, err := nc.ChanSubscribe(inbox+".>", replies)
	if err != nil {
		return false, fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
	}
	defer rsub.Unsubscribe()
	probe := appendProbe(nil, l.id[:])
	for i := range claimBits {
		m := &natsgo.Msg{Subject: l.a.claimSubject(i, 1-tag>>i&1), Reply: fmt.Sprintf("%s.%d", inbox, i), Data: probe}
		if err := nc.PublishMsg(m); err != nil {
			return false, fmt.Errorf("farpipe: listening at %s://%s: %w", l.t.scheme, l.a, err)
		}
	}
	monitor := inbox + ".m"
	if err := nc.PublishMsg(&natsgo.Msg{Subject: l.a.subject() + ".c.m.m", Reply: monitor, Data: probe}); err != nil {
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
	free := map[string]bool{}
	monitored = true
	count := func(m *natsgo.Msg) (done bool, err error) {
		ok := len(m.Data) == 0 && m.Header.Get("Status") == "503"
		if r, perr := parseRendezvous(m.Data); perr == nil && r.kind == kindRefuse && r.reason == claimGone {
			ok = true
		}
		switch {
		case m.Subject == monitor:
			monitored = !ok
			return false, nil
		case !ok:
			return true, taken
		case strings.HasPrefix(m.Subject, inbox+"."):
			free[m.Subject] = true
		}
		return len(free) == claimBits, nil
	}
	for len(replies) > 0 {
		if done, err := count(<-replies); done {
			return monitored, err
		}
	}
	var quiet <-chan time.Time
	if monitored {
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
				return monitored, err
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
	closed := l.closed
	l.mu.Unlock()
	answer := claimInUse
	if closed {
		answer = claimGone
	}
	m.Respond(appendRefuse(nil, answer))
}

// dropClaims gives the name up: probes the relay routed here before it
// saw the unsubscription are still answered ("gone") rather than dropped,
// which would keep their sender waiting.
func (l *listener) dropClaims() {
	for _, s := range l.claims {
		s.Drain()
	}
	l.claims = nil
}
