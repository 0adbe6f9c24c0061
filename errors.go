package farpipe

import (
	"errors"

	"github.com/farpipe/farpipe/secure"
	"github.com/farpipe/farpipe/session"
)

// Errors returned by Conn and Listener; test them with errors.Is.
var (
	// ErrBrokenPipe: the peer closed its reading side (or exited) before
	// reading everything; see BrokenPipeError. Also matches syscall.EPIPE.
	ErrBrokenPipe = session.ErrBrokenPipe
	// ErrAborted: the peer or this side aborted; see AbortError.
	ErrAborted = session.ErrAborted
	// ErrTimeout: a deadline passed. It is a net.Error with Timeout() true
	// and matches os.ErrDeadlineExceeded.
	ErrTimeout = session.ErrTimeout
	// ErrProtocol: the peer broke the protocol (or is not farpipe).
	ErrProtocol = session.ErrProtocol
	// ErrChecksum: the stream arrived whole in length but its checksum
	// differs. Also matches ErrProtocol.
	ErrChecksum = session.ErrChecksum
	// ErrConnLost: the connection failed or the peer stopped answering
	// before the stream was complete.
	ErrConnLost = session.ErrConnLost
	// ErrClosed: use of a Conn or Listener after Close. Matches net.ErrClosed.
	ErrClosed = session.ErrClosed
)

// BrokenPipeError is returned by writes after the reader went away. Its
// Delivered field counts the bytes the reader confirmed.
type BrokenPipeError = session.BrokenPipeError

// AbortError carries the reason an aborted session gave.
type AbortError = session.AbortError

// ErrRole matches a role mismatch found on either side (see WithRole): the
// peer's application role is not one this side accepts, or the reverse. The
// handshake fails before any byte of the stream moves. See RoleError.
var ErrRole = session.ErrRole

// RoleError says which roles did not go together; it matches ErrRole.
type RoleError = session.RoleError

// ErrEncryption matches a connection where one side encrypts and the other
// does not (WithNoEncrypt on one side only), found on either side. It also
// matches ErrProtocol. See EncryptionError.
var ErrEncryption = session.ErrEncryption

// EncryptionError says which side encrypts; it matches ErrEncryption.
type EncryptionError = session.EncryptionError

// ErrNoToken: Dial or Listen was given no token (WithToken, or the #TOKEN
// of an address) and no certificates (WithCertificates).
var ErrNoToken = secure.ErrNoToken

// ErrRefused matches the error a Listener gives WithErrorLog when it
// refused a new pipe: it was full (WithMaxSessions) or shutting down
// (StopAccepting). The peer's Dial fails with an *AbortError saying why.
var ErrRefused = errors.New("farpipe: refused a new pipe")

// ErrAuth matches a failed authentication, on either side: the peers do not
// hold the same token, or a certificate was refused. Also matches ErrAborted.
var ErrAuth = session.ErrAuth
