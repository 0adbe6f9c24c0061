package cpace

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/gtank/ristretto255"
)

// Sizes and names of the cipher suite CPACE-RISTR255-SHA512.
const (
	// DSI is the draft's domain separation identifier G.DSI of ristretto255.
	DSI = "CPaceRistretto255"
	// ElementSize is the size of an encoded group element (Ya, Yb).
	ElementSize = 32
	// KeySize is the size of the key (ISK) Respond and Finish return.
	KeySize = sha512.Size
	// MaxAD is the largest associated data a message may carry.
	MaxAD = 1024
	// MaxMessage is the size of the largest valid message.
	MaxMessage = 1 + ElementSize + 2 + MaxAD

	hashBlock = 128 // H.s_in_bytes of SHA-512
)

// Errors. Every failure of DecodeMessage, Respond and Finish matches one of
// them with errors.Is.
var (
	// ErrInvalidMessage: a message that is not lv_cat(Y, AD) with a
	// canonical 32-byte ristretto255 encoding Y and at most MaxAD bytes of AD.
	ErrInvalidMessage = errors.New("farpipe: invalid PAKE message")
	// ErrIdentity: a message whose share (or the shared point derived from
	// it) is the identity element; the draft requires an abort.
	ErrIdentity = errors.New("farpipe: PAKE message carries the identity element")
	// ErrFinished: Finish was called a second time on one State.
	ErrFinished = errors.New("farpipe: PAKE state already used: start a new exchange")
)

// ContextInfo holds the inputs both sides must agree on, besides the
// password, and this side's associated data.
type ContextInfo struct {
	// CI is the channel identifier: whatever binds the run to its channel
	// (addresses, subjects, protocol names). Both sides give the same; it
	// is never sent.
	CI []byte
	// SID is the session identifier: public, the same on both sides, and
	// fresh for each run.
	SID []byte
	// AD is this side's associated data (ADa for the initiator, ADb for the
	// responder): sent in clear inside the message, authenticated by the
	// key. At most MaxAD bytes.
	AD []byte
}

// State is the initiator's secret state between Start and Finish. It is not
// safe for concurrent use.
type State struct {
	y    *ristretto255.Scalar
	msgA []byte
	sid  []byte
	done bool
}

// Start begins a run as the initiator (A): it returns msgA, to send to the
// responder, and the state Finish needs.
func Start(password []byte, ci ContextInfo) ([]byte, *State, error) {
	return start(password, ci, sampleScalar())
}

func start(password []byte, ci ContextInfo, y *ristretto255.Scalar) ([]byte, *State, error) {
	if len(ci.AD) > MaxAD {
		return nil, nil, fmt.Errorf("farpipe: PAKE associated data of %d bytes, at most %d allowed", len(ci.AD), MaxAD)
	}
	g := generator(password, ci.CI, ci.SID)
	ya := ristretto255.NewElement().ScalarMult(y, g).Encode(nil)
	msgA := lvCat(ya, ci.AD)
	return msgA, &State{y: y, msgA: msgA, sid: clone(ci.SID)}, nil
}

// Respond answers msgA as the responder (B): it returns msgB, to send to
// the initiator, and B's key. It fails, sending nothing, when msgA is not a
// valid message (ErrInvalidMessage, ErrIdentity).
func Respond(password []byte, ci ContextInfo, msgA []byte) (msgB, key []byte, err error) {
	return respond(password, ci, msgA, sampleScalar())
}

func respond(password []byte, ci ContextInfo, msgA []byte, y *ristretto255.Scalar) (msgB, key []byte, err error) {
	if len(ci.AD) > MaxAD {
		return nil, nil, fmt.Errorf("farpipe: PAKE associated data of %d bytes, at most %d allowed", len(ci.AD), MaxAD)
	}
	ya, _, err := DecodeMessage(msgA)
	if err != nil {
		return nil, nil, err
	}
	g := generator(password, ci.CI, ci.SID)
	yb := ristretto255.NewElement().ScalarMult(y, g).Encode(nil)
	msgB = lvCat(yb, ci.AD)
	k, err := scalarMultVfy(y, ya)
	if err != nil {
		return nil, nil, err
	}
	return msgB, isk(ci.SID, k, msgA, msgB), nil
}

// Finish completes the initiator's run with the responder's msgB and
// returns the key. A State finishes once; a second call returns
// ErrFinished.
func (s *State) Finish(msgB []byte) ([]byte, error) {
	if s == nil || s.done {
		return nil, ErrFinished
	}
	yb, _, err := DecodeMessage(msgB)
	if err != nil {
		return nil, err
	}
	k, err := scalarMultVfy(s.y, yb)
	if err != nil {
		return nil, err
	}
	s.done = true
	key := isk(s.sid, k, s.msgA, msgB)
	s.y = ristretto255.NewScalar() // drop the secret scalar
	return key, nil
}

// DecodeMessage checks a message and returns its share and associated data.
// The share is neither the identity nor an invalid encoding.
func DecodeMessage(msg []byte) (*ristretto255.Element, []byte, error) {
	if len(msg) > MaxMessage {
		return nil, nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidMessage, len(msg), MaxMessage)
	}
	y, rest, err := readLV(msg, ElementSize)
	if err != nil {
		return nil, nil, err
	}
	if len(y) != ElementSize {
		return nil, nil, fmt.Errorf("%w: a share of %d bytes, not %d", ErrInvalidMessage, len(y), ElementSize)
	}
	ad, rest, err := readLV(rest, MaxAD)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes after the associated data", ErrInvalidMessage, len(rest))
	}
	if isIdentity(y) {
		return nil, nil, ErrIdentity
	}
	e := ristretto255.NewElement()
	if err := e.Decode(y); err != nil {
		return nil, nil, fmt.Errorf("%w: the share is not a ristretto255 element", ErrInvalidMessage)
	}
	return e, ad, nil
}

// scalarMultVfy is the draft's G.scalar_mult_vfy with its abort: the
// encoded y*Y, or ErrIdentity when that is the neutral element.
func scalarMultVfy(y *ristretto255.Scalar, p *ristretto255.Element) ([]byte, error) {
	k := ristretto255.NewElement().ScalarMult(y, p).Encode(nil)
	if isIdentity(k) {
		return nil, ErrIdentity
	}
	return k, nil
}

var identity [ElementSize]byte // the encoding of the neutral element G.I

func isIdentity(enc []byte) bool {
	return len(enc) == ElementSize && subtle.ConstantTimeCompare(enc, identity[:]) == 1
}

// generator is G.calculate_generator(H, PRS, CI, sid).
func generator(prs, ci, sid []byte) *ristretto255.Element {
	h := sha512.Sum512(generatorString(prs, ci, sid))
	return ristretto255.NewElement().FromUniformBytes(h[:])
}

// generatorString is the draft's generator_string(G.DSI, PRS, CI, sid,
// H.s_in_bytes): DSI and PRS padded with zeros to fill the first hash block.
func generatorString(prs, ci, sid []byte) []byte {
	zpad := hashBlock - 1 - lenLV(len(prs)) - lenLV(len(DSI))
	zpad = max(zpad, 0)
	return lvCat([]byte(DSI), prs, make([]byte, zpad), ci, sid)
}

// isk is H.hash(lv_cat(G.DSI || "_ISK", sid, K) || transcript_ir(...)),
// where msgA and msgB are already lv_cat(Ya, ADa) and lv_cat(Yb, ADb).
func isk(sid, k, msgA, msgB []byte) []byte {
	h := sha512.New()
	h.Write(lvCat([]byte(DSI+"_ISK"), sid, k))
	h.Write(msgA)
	h.Write(msgB)
	return h.Sum(nil)
}

// sampleScalar is the draft's recommended G.sample_scalar: 32 random bytes,
// bits above group_size_bits (252) cleared, little-endian. Zero, which
// would make the share the identity, is drawn again.
func sampleScalar() *ristretto255.Scalar {
	var b [32]byte
	zero := ristretto255.NewScalar()
	for {
		rand.Read(b[:]) // never fails since Go 1.24
		b[31] &= 0x0f
		s := ristretto255.NewScalar()
		if err := s.Decode(b[:]); err != nil {
			continue // cannot happen: below 2^252 is below the group order
		}
		if s.Equal(zero) == 0 {
			return s
		}
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
