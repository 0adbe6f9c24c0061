package code

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/farpipe/farpipe/internal/cpace"
	"github.com/nats-io/nats.go"
)

// Join runs the exchange with the offer of code c on the relay nc is
// connected to and returns the Secret both sides share. It fails with
// ErrNoOffer when nobody offers c's number there, ErrWrongCode when the
// words differ (the offer is told, and the code is burned), ErrInUse when
// the offer is busy with someone else, ErrPeerGone when the offer stops
// answering. ctx bounds the whole exchange.
func Join(ctx context.Context, nc *nats.Conn, c Code, opts ...Option) (Secret, error) {
	cfg := newConfig(opts)
	if len(c.Words) < MinWords || len(c.Words) > MaxWords || c.Number < 1 || c.Number > MaxNumber {
		return Secret{}, fmt.Errorf("%w: %q", ErrBadCode, c)
	}
	var joiner [idLen]byte
	rand.Read(joiner[:])
	here, err := request(ctx, nc, cfg, subject(c.Number), message{typ: tHello, id: joiner}, tHere)
	if errors.Is(err, ErrNoOffer) {
		return Secret{}, &codeError{
			msg:  fmt.Sprintf("farpipe: nobody offers code number %d on this relay: check the code, and that both sides use the same --relay; a code works once and expires", c.Number),
			kind: ErrNoOffer,
		}
	}
	if err != nil {
		return Secret{}, err
	}
	sess := sessionSubject(c.Number, here.id)
	ci, sid := sessionInputs(c.Number, here.id, joiner)
	msgA, st, err := cpace.Start(c.password(), cpace.ContextInfo{CI: ci, SID: sid})
	if err != nil {
		return Secret{}, err
	}
	p2, err := request(ctx, nc, cfg, sess, message{typ: tPake1, id: joiner, pake: msgA}, tPake2)
	if err != nil {
		return Secret{}, err
	}
	key, err := st.Finish(p2.pake)
	if err != nil {
		fail(nc, sess, joiner)
		return Secret{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if p2.id != joiner || !cpace.VerifyTag(key, sid, p2.pake, p2.tag) {
		fail(nc, sess, joiner)
		return Secret{}, ErrWrongCode
	}
	ack, err := request(ctx, nc, cfg, sess, message{typ: tConfirm, id: joiner, tag: cpace.Tag(key, sid, msgA)}, tStatus)
	if err != nil {
		return Secret{}, err
	}
	if ack.status != stOK {
		return Secret{}, statusError(ack.status)
	}
	return derive(key, sid)
}

// fail tells the offer its tag did not match (a wrong code), so it gives
// up at once instead of waiting for a confirmation. Best effort: if the
// message is lost, the offer's step timeout ends it the same way.
func fail(nc *nats.Conn, sess string, joiner [idLen]byte) {
	if nc.Publish(sess, message{typ: tFail, id: joiner}.encode()) == nil {
		nc.FlushTimeout(time.Second)
	}
}

// request sends msg to subj and waits up to the step timeout for an answer
// of type want (or a status, which becomes the matching error).
func request(ctx context.Context, nc *nats.Conn, cfg config, subj string, msg message, want msgType) (message, error) {
	sctx, cancel := context.WithTimeout(ctx, cfg.step)
	defer cancel()
	m, err := nc.RequestWithContext(sctx, subj, msg.encode())
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return message{}, ErrNoOffer
	case err != nil && ctx.Err() != nil:
		return message{}, fmt.Errorf("farpipe: the code exchange did not finish: %w", ctx.Err())
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return message{}, fmt.Errorf("%w (no answer within %v)", ErrPeerGone, cfg.step)
	case err != nil:
		return message{}, fmt.Errorf("farpipe: code exchange on the relay: %w", err)
	}
	r, err := decode(m.Data)
	if err != nil {
		return message{}, err
	}
	if r.typ == tStatus && want != tStatus {
		return message{}, statusError(r.status)
	}
	if r.typ != want {
		return message{}, fmt.Errorf("%w: a type %d answer where type %d was expected", ErrProtocol, r.typ, want)
	}
	return r, nil
}
