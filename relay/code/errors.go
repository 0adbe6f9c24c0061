package code

import (
	"errors"
	"time"
)

// Errors. Decide with errors.Is; the CLI maps ErrWrongCode to exit status 6.
var (
	// ErrBadCode: text that is not a code (Parse), or a bad word count (New).
	ErrBadCode = errors.New("farpipe: bad code")
	// ErrWrongCode: the two sides used different words, or the other side's
	// confirmation did not come. The code is burned: one guess per code.
	ErrWrongCode = errors.New("farpipe: wrong code: the words do not match the code the other side was given; that code is now used up, so ask for a new one")
	// ErrNoOffer: no one offers the code's number on this relay (never
	// offered, expired, closed, or already used).
	ErrNoOffer = errors.New("farpipe: nobody offers that code on this relay: check the code, and that both sides use the same --relay; a code works once and expires")
	// ErrInUse: the offer is already exchanging keys with someone else.
	ErrInUse = errors.New("farpipe: that code is being used by someone else right now: if that was not your other side, the code is burned; ask for a new one")
	// ErrExpired: Accept's context reached its deadline before a joiner
	// completed the exchange.
	ErrExpired = errors.New("farpipe: the code expired before the other side used it: make a new one")
	// ErrPeerGone: the other side stopped answering during the exchange.
	ErrPeerGone = errors.New("farpipe: the other side stopped answering during the code exchange: try again with a new code")
	// ErrProtocol: the other side sent a message that breaks the protocol.
	ErrProtocol = errors.New("farpipe: invalid message in the code exchange (a different farpipe version, or someone interfering on the relay)")
	// ErrNoNumber: Offer found no free number on the relay.
	ErrNoNumber = errors.New("farpipe: could not claim a free code number on the relay: try again")
	// ErrClosed: Accept on an offer that was closed, or called twice.
	ErrClosed = errors.New("farpipe: the code offer is closed")
)

// DefaultExpiry is how long an offer stays open unused, by default: the
// deadline the caller gives Accept's context.
const DefaultExpiry = 10 * time.Minute

// codeError is an error with its own message that matches a sentinel.
type codeError struct {
	msg  string
	kind error
}

func (e *codeError) Error() string { return e.msg }
func (e *codeError) Unwrap() error { return e.kind }
