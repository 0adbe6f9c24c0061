package code

import (
	"fmt"

	"github.com/farpipe/farpipe/internal/cpace"
)

// The messages of the exchange. Each is one NATS message: a version byte,
// a type byte and the type's fixed fields, so every message has one exact
// length. See docs/codes.md for the flow.
const (
	wireVersion = 1
	idLen       = 16
	// pakeLen is the size of a CPace message without associated data:
	// lv_cat(Y, ""), a length byte, the 32-byte share and a zero length.
	pakeLen = 1 + cpace.ElementSize + 1
	// maxMessage bounds what decode looks at.
	maxMessage = 256
)

type msgType byte

const (
	tProbe   msgType = 1 // offer → farpipe.code.N: offer id; "is N taken?"
	tHello   msgType = 2 // joiner → farpipe.code.N: joiner nonce
	tHere    msgType = 3 // offer → joiner: offer id (names the session subject)
	tPake1   msgType = 4 // joiner → session: joiner nonce, msgA
	tPake2   msgType = 5 // offer → joiner: joiner nonce, msgB, offer's tag
	tConfirm msgType = 6 // joiner → session: joiner nonce, joiner's tag
	tFail    msgType = 7 // joiner → session: joiner nonce; the offer's tag was wrong
	tStatus  msgType = 8 // any answer that carries no data: one status byte
)

// Status values of a tStatus message.
const (
	stTaken byte = 1 // answer to a probe: this number is held
	stBusy  byte = 2 // the offer is engaged with another joiner
	stOK    byte = 3 // the joiner's tag is right: done
	stWrong byte = 4 // the joiner's tag is wrong: wrong code, burned
	stBad   byte = 5 // the message was invalid
)

// msgLen is the exact length of each type's message.
var msgLen = map[msgType]int{
	tProbe:   2 + idLen,
	tHello:   2 + idLen,
	tHere:    2 + idLen,
	tPake1:   2 + idLen + pakeLen,
	tPake2:   2 + idLen + pakeLen + cpace.TagSize,
	tConfirm: 2 + idLen + cpace.TagSize,
	tFail:    2 + idLen,
	tStatus:  3,
}

// message is one decoded message; which fields are set depends on typ.
type message struct {
	typ    msgType
	id     [idLen]byte // offer id (probe, here) or joiner nonce (the rest)
	pake   []byte      // msgA (pake1) or msgB (pake2)
	tag    []byte      // pake2, confirm
	status byte        // status
}

func (m message) encode() []byte {
	b := make([]byte, 0, msgLen[m.typ])
	b = append(b, wireVersion, byte(m.typ))
	if m.typ == tStatus {
		return append(b, m.status)
	}
	b = append(b, m.id[:]...)
	switch m.typ {
	case tPake1:
		b = append(b, m.pake...)
	case tPake2:
		b = append(b, m.pake...)
		b = append(b, m.tag...)
	case tConfirm:
		b = append(b, m.tag...)
	}
	return b
}

// decode checks and splits a message. Its errors match ErrProtocol. It
// checks lengths and framing only; the CPace messages inside are checked
// by cpace when they are used.
func decode(b []byte) (message, error) {
	if len(b) > maxMessage {
		return message{}, fmt.Errorf("%w: a message of %d bytes", ErrProtocol, len(b))
	}
	if len(b) < 2 {
		return message{}, fmt.Errorf("%w: a message of %d bytes", ErrProtocol, len(b))
	}
	if b[0] != wireVersion {
		return message{}, fmt.Errorf("%w: protocol version %d, this farpipe speaks %d: use the same farpipe release on both sides", ErrProtocol, b[0], wireVersion)
	}
	m := message{typ: msgType(b[1])}
	want, ok := msgLen[m.typ]
	if !ok {
		return message{}, fmt.Errorf("%w: unknown message type %d", ErrProtocol, b[1])
	}
	if len(b) != want {
		return message{}, fmt.Errorf("%w: a type %d message of %d bytes, not %d", ErrProtocol, b[1], len(b), want)
	}
	if m.typ == tStatus {
		m.status = b[2]
		if m.status < stTaken || m.status > stBad {
			return message{}, fmt.Errorf("%w: unknown status %d", ErrProtocol, m.status)
		}
		return m, nil
	}
	copy(m.id[:], b[2:2+idLen])
	rest := b[2+idLen:]
	switch m.typ {
	case tPake1:
		m.pake = rest
	case tPake2:
		m.pake, m.tag = rest[:pakeLen], rest[pakeLen:]
	case tConfirm:
		m.tag = rest
	}
	return m, nil
}

// statusError turns an unexpected status answer into the joiner's error.
func statusError(st byte) error {
	switch st {
	case stBusy:
		return ErrInUse
	case stWrong:
		return ErrWrongCode
	case stTaken:
		return fmt.Errorf("%w: a probe answer where an exchange answer was expected", ErrProtocol)
	default:
		return fmt.Errorf("%w: the offer refused a message as invalid", ErrProtocol)
	}
}
