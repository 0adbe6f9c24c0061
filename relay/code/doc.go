// Package code is farpipe's short codes: a number and two or more words,
// "7-apple-river", that let two farpipe processes which both dial a relay
// find each other and agree on a session token, without the relay (or
// anyone watching it) learning anything that allows an offline guess of
// the words.
//
// One side calls Offer, which claims a free number on the relay and returns
// at once with the code to print, then Accept, which waits for one joiner;
// the other side parses the code and calls Join. Both run CPace
// (internal/cpace) with the words as the password, then key confirmation
// both ways, and get the same Secret: the token for the session's TLS and
// the pipe's name on the relay.
//
// The number only picks the rendezvous subject farpipe.code.<N> and is
// public; only the words are secret. An offer accepts exactly one complete
// PAKE attempt: a wrong code burns it (ErrWrongCode on both sides), so an
// attacker gets one online guess per code, 1 in 1296^2 with two words.
// docs/codes.md gives the format, the word list and its license, the
// messages and subjects, and the security argument.
//
// # Concurrency
//
// An Offer has one goroutine, started by Offer and ended by Close (or by
// Accept returning), which alone reads the offer's subscriptions and runs
// its side of the exchange; Accept and Close only wait on it. Join runs in
// the caller's goroutine. There are no locks.
package code
