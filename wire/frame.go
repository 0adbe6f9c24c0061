package wire

import (
	"encoding/binary"
	"fmt"
)

// Version is the protocol version this package speaks. It is the first byte
// of every frame header.
const Version = 1

// HeaderLen is the size in bytes of every frame header.
const HeaderLen = 16

// MaxChannels is the number of independent byte channels in a session.
// Channel numbers run from 0 to MaxChannels-1.
const MaxChannels = 4

// MaxData is the largest payload a DATA frame may carry. Senders may use
// smaller frames; a receiver rejects larger ones before allocating anything.
const MaxData = 1 << 20

// Payload limits of the control frames. They bound what a peer can make us
// buffer before the frame has been checked.
const (
	MaxHello  = 4096
	MaxAuth   = 1024
	MaxReason = 1024
)

// Type says what a frame is.
type Type uint8

// Frame types. Values are part of the protocol: never renumber them.
const (
	TypeHello Type = 0x01 // handshake: version, role, session id, nonce, resume offsets
	TypeAuth  Type = 0x02 // handshake: proof of the shared secret (method + proof)
	TypeData  Type = 0x03 // Arg = stream offset of the first payload byte
	TypeAck   Type = 0x04 // Arg = bytes delivered to the application; FlagFin: EOF delivered, checksum verified
	TypeFin   Type = 0x05 // Arg = total stream length; payload = CRC-32C of the whole stream
	TypeStop  Type = 0x06 // reader closed: Arg = bytes delivered; payload = reason
	TypePing  Type = 0x07 // Arg = opaque value echoed in the PONG
	TypePong  Type = 0x08 // Arg = the PING's value
	TypeAbort Type = 0x09 // Arg = abort code; payload = reason
	TypeBye   Type = 0x0A // sender has nothing more to say on this connection
)

// Flags.
const (
	// FlagFin on an ACK: the receiver read the whole stream, verified its
	// checksum and returned EOF to its application.
	FlagFin uint8 = 0x01
)

// FinLen is the payload length of a FIN frame: a big-endian CRC-32C
// (Castagnoli) of every byte of the stream.
const FinLen = 4

// typeInfo gives the rules for each frame type.
type typeInfo struct {
	name      string
	minLen    uint32
	maxLen    uint32
	perStream bool  // the channel field names a stream; otherwise it must be 0
	flags     uint8 // flag bits allowed
}

var types = [...]typeInfo{
	TypeHello: {name: "HELLO", minLen: 8, maxLen: MaxHello},
	TypeAuth:  {name: "AUTH", minLen: 1, maxLen: MaxAuth},
	TypeData:  {name: "DATA", minLen: 1, maxLen: MaxData, perStream: true},
	TypeAck:   {name: "ACK", perStream: true, flags: FlagFin},
	TypeFin:   {name: "FIN", minLen: FinLen, maxLen: FinLen, perStream: true},
	TypeStop:  {name: "STOP", maxLen: MaxReason, perStream: true},
	TypePing:  {name: "PING"},
	TypePong:  {name: "PONG"},
	TypeAbort: {name: "ABORT", maxLen: MaxReason},
	TypeBye:   {name: "BYE"},
}

func (t Type) info() (typeInfo, bool) {
	if int(t) >= len(types) || types[t].name == "" {
		return typeInfo{}, false
	}
	return types[t], true
}

// String returns the frame type's name as used in docs/protocol.md.
func (t Type) String() string {
	if i, ok := t.info(); ok {
		return i.name
	}
	return fmt.Sprintf("Type(0x%02x)", uint8(t))
}

// Header is the fixed 16-byte header in front of every frame:
//
//	byte 0     version (1)
//	byte 1     type
//	byte 2     channel
//	byte 3     flags
//	bytes 4-7  payload length, big-endian
//	bytes 8-15 argument, big-endian (meaning depends on the type)
type Header struct {
	Type    Type
	Channel uint8
	Flags   uint8
	Length  uint32
	Arg     uint64
}

// Put encodes h into b, which must be at least HeaderLen bytes long.
func (h Header) Put(b []byte) {
	_ = b[HeaderLen-1]
	b[0] = Version
	b[1] = byte(h.Type)
	b[2] = h.Channel
	b[3] = h.Flags
	binary.BigEndian.PutUint32(b[4:8], h.Length)
	binary.BigEndian.PutUint64(b[8:16], h.Arg)
}

// ParseHeader decodes and validates a header. It rejects another protocol
// version, an unknown type, a channel out of range, unknown flags and a
// length outside the type's limits, so a caller may allocate Length bytes
// once ParseHeader has returned no error.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: frame header is %d bytes, want %d", ErrMalformed, len(b), HeaderLen)
	}
	if b[0] != Version {
		return Header{}, &VersionError{Got: b[0]}
	}
	h := Header{
		Type:    Type(b[1]),
		Channel: b[2],
		Flags:   b[3],
		Length:  binary.BigEndian.Uint32(b[4:8]),
		Arg:     binary.BigEndian.Uint64(b[8:16]),
	}
	return h, h.Validate()
}

// Validate checks h against the rules of its type.
func (h Header) Validate() error {
	info, ok := h.Type.info()
	if !ok {
		return fmt.Errorf("%w: unknown frame type 0x%02x", ErrMalformed, uint8(h.Type))
	}
	switch {
	case info.perStream && h.Channel >= MaxChannels:
		return fmt.Errorf("%w: %s frame on channel %d, channels are 0-%d", ErrMalformed, info.name, h.Channel, MaxChannels-1)
	case !info.perStream && h.Channel != 0:
		return fmt.Errorf("%w: %s frame with channel %d, want 0", ErrMalformed, info.name, h.Channel)
	case h.Flags&^info.flags != 0:
		return fmt.Errorf("%w: %s frame with unknown flags 0x%02x", ErrMalformed, info.name, h.Flags)
	case h.Length > info.maxLen:
		return fmt.Errorf("%w: %s frame of %d bytes exceeds the limit of %d", ErrTooLarge, info.name, h.Length, info.maxLen)
	case h.Length < info.minLen:
		return fmt.Errorf("%w: %s frame of %d bytes is shorter than %d", ErrMalformed, info.name, h.Length, info.minLen)
	}
	return nil
}
