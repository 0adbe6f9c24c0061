package wire

import (
	"errors"
	"fmt"
)

// Errors returned by the decoders. Each of ErrMalformed, ErrTooLarge and
// ErrVersion also matches ErrProtocol with errors.Is.
var (
	// ErrProtocol matches every error caused by bytes that break the protocol.
	ErrProtocol = errors.New("farpipe: protocol error")
	// ErrMalformed: a frame or handshake field is not well formed.
	ErrMalformed = &protoError{"farpipe: malformed frame"}
	// ErrTooLarge: a frame is larger than its type allows.
	ErrTooLarge = &protoError{"farpipe: frame too large"}
	// ErrVersion: the peer speaks another protocol version.
	ErrVersion = &protoError{"farpipe: unsupported protocol version"}
	// ErrNotFarpipe: the peer's first bytes are not a farpipe handshake.
	ErrNotFarpipe = &protoError{"farpipe: peer is not a farpipe endpoint"}
)

type protoError struct{ msg string }

func (e *protoError) Error() string        { return e.msg }
func (e *protoError) Is(target error) bool { return target == ErrProtocol }

// VersionError reports a frame of another protocol version.
type VersionError struct {
	Got byte
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("farpipe: peer speaks protocol version %d, this farpipe speaks %d: run the same farpipe release on both hosts", e.Got, Version)
}

// Is makes a VersionError match ErrVersion and ErrProtocol.
func (e *VersionError) Is(target error) bool { return target == ErrVersion || target == ErrProtocol }
