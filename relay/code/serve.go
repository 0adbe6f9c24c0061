package code

import (
	"fmt"
	"time"

	"github.com/farpipe/farpipe/internal/cpace"
	"github.com/nats-io/nats.go"
)

// exchange is the offer's side of the one exchange it runs.
type exchange struct {
	engaged bool
	joiner  [idLen]byte
	key     []byte
	sid     []byte
	msgA    []byte
}

// serve is the offer's goroutine, started by Offer and waited for by
// Close. It answers everything that reaches the offer's two subjects until
// the exchange ends (one result, then it withdraws from the relay) or the
// offer is closed. It is the only goroutine that touches the exchange.
func (o *Offering) serve() {
	defer close(o.done)
	defer o.unsubscribe()
	var x exchange
	var confirm <-chan time.Time
	for {
		select {
		case <-o.stop:
			return
		case <-confirm:
			o.result <- result{err: &codeError{
				msg:  fmt.Sprintf("farpipe: the other side of code %s sent no confirmation within %v (a wrong code, or it went away): the code is used up, make a new one", o.Code, o.cfg.step),
				kind: ErrWrongCode,
			}}
			return
		case m := <-o.ch:
			engaged := x.engaged
			r, end := o.handle(m, &x)
			if end {
				o.result <- r
				return
			}
			if x.engaged && !engaged {
				t := time.NewTimer(o.cfg.step)
				defer t.Stop()
				confirm = t.C
			}
		}
	}
}

// handle answers one message; end reports that the exchange is over, with
// its result. Malformed messages, probes, hellos and messages of other
// joiners never end it: only the first joiner's complete PAKE attempt does.
func (o *Offering) handle(m *nats.Msg, x *exchange) (r result, end bool) {
	msg, err := decode(m.Data)
	if err != nil {
		o.respond(m, message{typ: tStatus, status: stBad})
		return r, false
	}
	switch {
	case m.Subject == o.subj && msg.typ == tProbe:
		if msg.id != o.id {
			o.respond(m, message{typ: tStatus, status: stTaken})
		}
	case m.Subject == o.subj && msg.typ == tHello:
		o.respond(m, message{typ: tHere, id: o.id})
	case m.Subject == o.sess && msg.typ == tPake1:
		o.pake1(m, msg, x)
	case m.Subject == o.sess && msg.typ == tConfirm:
		if !x.engaged || msg.id != x.joiner {
			o.respond(m, message{typ: tStatus, status: stBusy})
			return r, false
		}
		if !cpace.VerifyTag(x.key, x.sid, x.msgA, msg.tag) {
			o.respond(m, message{typ: tStatus, status: stWrong})
			return result{err: ErrWrongCode}, true
		}
		sec, err := derive(x.key, x.sid)
		if err != nil {
			return result{err: fmt.Errorf("farpipe: deriving the session token: %w", err)}, true
		}
		o.respond(m, message{typ: tStatus, status: stOK})
		return result{sec: sec}, true
	case m.Subject == o.sess && msg.typ == tFail:
		if x.engaged && msg.id == x.joiner {
			return result{err: ErrWrongCode}, true
		}
	default:
		o.respond(m, message{typ: tStatus, status: stBad})
	}
	return r, false
}

// pake1 answers a joiner's CPace message: the first valid one engages the
// offer with that joiner (its one guess); later ones are told "busy".
func (o *Offering) pake1(m *nats.Msg, msg message, x *exchange) {
	if x.engaged {
		o.respond(m, message{typ: tStatus, status: stBusy})
		return
	}
	if m.Reply == "" {
		return // nowhere to answer: not an attempt
	}
	ci, sid := sessionInputs(o.Code.Number, o.id, msg.id)
	msgB, key, err := cpace.Respond(o.Code.password(), cpace.ContextInfo{CI: ci, SID: sid}, msg.pake)
	if err != nil {
		o.respond(m, message{typ: tStatus, status: stBad}) // an invalid share is no guess
		return
	}
	*x = exchange{engaged: true, joiner: msg.id, key: key, sid: sid, msgA: append([]byte(nil), msg.pake...)}
	o.respond(m, message{typ: tPake2, id: msg.id, pake: msgB, tag: cpace.Tag(key, sid, msgB)})
}
