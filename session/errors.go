package session

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/farpipe/farpipe/wire"
)

// Sentinel errors. Every error a Session or Stream returns matches at most
// one of these with errors.Is (and some also match a standard error, noted).
var (
	// ErrBrokenPipe: the peer closed its read side; bytes written after that
	// are not delivered. Also matches syscall.EPIPE. See BrokenPipeError.
	ErrBrokenPipe = errors.New("farpipe: broken pipe")
	// ErrAborted: the peer (or this side) aborted the session. See AbortError.
	ErrAborted = errors.New("farpipe: session aborted")
	// ErrTimeout: a deadline passed. It is a net.Error whose Timeout method
	// reports true, and it matches os.ErrDeadlineExceeded.
	ErrTimeout error = &timeoutError{}
	// ErrProtocol: the peer sent bytes that break the protocol.
	ErrProtocol = wire.ErrProtocol
	// ErrChecksum: the stream's length matched but its checksum did not:
	// bytes were corrupted or lost on the way. Also matches ErrProtocol.
	ErrChecksum = &checksumError{}
	// ErrConnLost: the connection failed or the peer stopped answering
	// keepalives, and the stream is incomplete.
	ErrConnLost = errors.New("farpipe: connection lost")
	// ErrClosed: the operation used a stream or session that this side
	// closed. It matches net.ErrClosed.
	ErrClosed = &closedError{}
	// ErrAuth: authentication failed, on this side or the peer's: the
	// peers do not hold the same token (or certificates). Also matches
	// ErrAborted.
	ErrAuth = errors.New("farpipe: authentication failed")
	// ErrRole: the two sides' application roles do not go together (see
	// Config.Role), on this side or the peer's. Also matches ErrAborted
	// when the peer found the mismatch. See RoleError.
	ErrRole = errors.New("farpipe: the two sides' roles do not go together")
	// ErrEncryption: one side encrypts and the other does not, found on
	// this side or the peer's. Also matches ErrProtocol. See
	// EncryptionError.
	ErrEncryption = errors.New("farpipe: one side encrypts and the other does not")
)

type timeoutError struct{ _ byte }

func (*timeoutError) Error() string          { return "farpipe: i/o timeout" }
func (*timeoutError) Timeout() bool          { return true }
func (*timeoutError) Temporary() bool        { return true }
func (*timeoutError) Is(target error) bool   { return target == os.ErrDeadlineExceeded }
func (*checksumError) Error() string         { return "farpipe: stream checksum mismatch" }
func (*checksumError) Is(target error) bool  { return target == ErrProtocol }
func (*closedError) Error() string           { return "farpipe: use of closed stream" }
func (*closedError) Is(target error) bool    { return target == net.ErrClosed }
func (e *BrokenPipeError) Is(err error) bool { return err == ErrBrokenPipe || err == syscall.EPIPE }
func (e *AbortError) Is(err error) bool {
	switch err {
	case ErrAborted:
		return true
	case ErrAuth:
		return e.Code == CodeAuth
	case ErrProtocol:
		return e.Code == CodeProtocol || e.Code == CodeChecksum || e.Code == CodeEncryption
	case ErrChecksum:
		return e.Code == CodeChecksum
	case ErrRole:
		return e.Code == CodeRole
	case ErrEncryption:
		return e.Code == CodeEncryption
	}
	return false
}

// The sentinels' types are not of zero size: pointers to distinct
// zero-size values may compare equal, and then errors.Is would confuse them.
type checksumError struct{ _ byte }

type closedError struct{ _ byte }

// finishedError ends a session whose streams all completed (errFinished):
// an operation after it fails as on a closed connection, but it is not
// ErrClosed.
type finishedError struct{ _ byte }

func (*finishedError) Error() string        { return "farpipe: the session has finished" }
func (*finishedError) Is(target error) bool { return target == net.ErrClosed }

var _ net.Error = (*timeoutError)(nil)

// BrokenPipeError reports a write to a stream whose reader has gone away.
type BrokenPipeError struct {
	Delivered uint64 // bytes the reader confirmed before it stopped
	Reason    string // why, if the reader said (Stream.CloseWithError)
}

func (e *BrokenPipeError) Error() string {
	if e.Reason != "" { // the reader said why (Stream.CloseWithError)
		return fmt.Sprintf("farpipe: broken pipe after %d bytes were delivered: %s", e.Delivered, e.Reason)
	}
	return fmt.Sprintf("farpipe: broken pipe: the reader stopped after %d bytes were delivered", e.Delivered)
}

// AbortCode says why a session was aborted. Codes travel in ABORT frames.
type AbortCode uint64

// Abort codes. Values are part of the protocol.
const (
	CodeApplication AbortCode = 1 // the application aborted, see the reason
	CodeProtocol    AbortCode = 2 // a protocol violation
	CodeChecksum    AbortCode = 3 // the stream checksum did not match
	CodeAuth        AbortCode = 4 // authentication failed
	CodeTimeout     AbortCode = 5 // gave up waiting (linger, resume)
	CodeInterrupted AbortCode = 6 // the process was interrupted by a signal
	CodeNoSession   AbortCode = 7 // no session to resume with that id and proof
	CodeRole        AbortCode = 8 // the two sides' application roles do not go together
	CodeEncryption  AbortCode = 9 // one side encrypts and the other does not
)

// AbortError reports an aborted session.
type AbortError struct {
	Code   AbortCode
	Reason string
	Remote bool // the peer aborted; false: this side did
}

func (e *AbortError) Error() string {
	who := "this side"
	if e.Remote {
		who = "the peer"
	}
	return fmt.Sprintf("farpipe: %s aborted the session: %s", who, e.Reason)
}

// AuthError reports that the peer failed this side's authentication.
type AuthError struct {
	Reason string
}

func (e *AuthError) Error() string { return "farpipe: authentication failed: " + e.Reason }

// Is makes an AuthError match ErrAuth.
func (e *AuthError) Is(err error) bool { return err == ErrAuth }

// RoleError reports that the peer's application role is not one this side
// accepts, or that the peer found this side's role unacceptable (Remote).
// It matches ErrRole.
type RoleError struct {
	Role, PeerRole string // this side's role and the peer's ("": none declared)
	Remote         bool   // the peer found the mismatch
}

func (e *RoleError) Error() string {
	return fmt.Sprintf("farpipe: role mismatch: this side is %q and the peer is %q, which do not go together", e.Role, e.PeerRole)
}

// Is makes a RoleError match ErrRole.
func (e *RoleError) Is(err error) bool { return err == ErrRole }

// EncryptionError reports that one side encrypts and the other does not.
// It matches ErrEncryption and ErrProtocol.
type EncryptionError struct {
	Encrypts bool // whether this side encrypts
}

func (e *EncryptionError) Error() string {
	if e.Encrypts {
		return "farpipe: this side encrypts and the peer does not: both sides must encrypt, or neither"
	}
	return "farpipe: the peer encrypts and this side does not: both sides must encrypt, or neither"
}

// Is makes an EncryptionError match ErrEncryption and ErrProtocol.
func (e *EncryptionError) Is(err error) bool { return err == ErrEncryption || err == ErrProtocol }
