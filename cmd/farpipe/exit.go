package main

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/secure"
	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/transport"
)

// Exit statuses. They are part of the interface: listed in farpipe --help and
// the README; never renumber them.
const (
	exitOK          = 0 // every byte delivered (send) or received and verified (recv)
	exitFailure     = 1 // connection failed or lost, protocol or I/O error: the stream is incomplete
	exitUsage       = 2 // bad command line
	exitBrokenPipe  = 3 // the reading side went away before the end of the stream
	exitPeerAborted = 4 // the peer aborted the transfer (it was interrupted or failed)
	exitChecksum    = 5 // the stream arrived but its checksum does not match
	exitAuth        = 6 // authentication failed: the peers do not hold the same token
	exitRole        = 7 // role mismatch: the two sides run commands that do not go together
	exitEncryption  = 8 // encryption mismatch: one side has --no-encrypt and the other does not
	exitMapFailed   = 9 // map: a command failed on a chunk (after its retries)
)

const exitCodesHelp = `Exit status:
  0  success: send: every byte was written to the receiver's output;
     recv: the whole stream arrived and its checksum matched
  1  failure: could not connect, connection lost, protocol or I/O error;
     the stream is incomplete; exec: --drain-timeout ran out and running
     commands were cut off
  2  usage error
  3  broken pipe: the reader went away before the end (send), or recv's
     own output was closed (recv)
  4  the peer aborted the transfer (it was interrupted or failed)
  5  the stream arrived whole but its checksum does not match
  6  authentication failed: the two sides do not hold the same token (or a
     certificate was refused); no byte of the stream was delivered
  7  role mismatch: the two sides run commands that do not go together
     (send goes with recv, exec with connect); nothing was transferred
  8  encryption mismatch: one side runs with --no-encrypt and the other
     does not; nothing was transferred
  9  map: a command failed on a chunk, after its retries (with
     --keep-going: on at least one chunk)
  128+N  interrupted by signal N (130 for SIGINT, 143 for SIGTERM); the
     peer is told, and never takes the stream for complete`

// usageError marks an error in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{"farpipe: " + fmt.Sprintf(format, args...)}
}

// kindError is an error with its own message that matches kind with
// errors.Is, so the exit status follows kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func kindf(kind error, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: kind}
}

// signalError reports that a signal interrupted the transfer. then says
// what that left behind, when it is not a pipe's peer told of it (pub, sub).
type signalError struct {
	sig  syscall.Signal
	then string
}

func (e *signalError) Error() string {
	if e.then != "" {
		return fmt.Sprintf("farpipe: interrupted by %s: %s", signalName(e.sig), e.then)
	}
	return fmt.Sprintf("farpipe: interrupted by %s: the transfer is incomplete and the peer was told", signalName(e.sig))
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// exitCode maps an error to the documented exit status.
func exitCode(err error) int {
	var (
		ue *usageError
		se *signalError
		ae *farpipe.AbortError
	)
	switch {
	case errors.As(err, &ue), errors.Is(err, transport.ErrBadAddress), errors.Is(err, transport.ErrUnknownScheme),
		errors.Is(err, secure.ErrBadToken), errors.Is(err, secure.ErrNoToken):
		return exitUsage
	case errors.As(err, &se):
		return 128 + int(se.sig)
	case errors.Is(err, farpipe.ErrAuth):
		return exitAuth
	case errors.Is(err, farpipe.ErrRole):
		return exitRole
	case errors.Is(err, farpipe.ErrEncryption):
		return exitEncryption
	case errors.Is(err, errMapFailed):
		return exitMapFailed
	case errors.Is(err, farpipe.ErrBrokenPipe):
		return exitBrokenPipe
	case errors.Is(err, farpipe.ErrChecksum):
		return exitChecksum
	case errors.As(err, &ae) && ae.Remote && ae.Code == session.CodeNoSession:
		return exitFailure // the listener lost the session: the stream is incomplete
	case errors.As(err, &ae) && ae.Remote:
		return exitPeerAborted
	}
	return exitFailure
}

// oneLine makes sure an error prints as one line starting "farpipe:".
func oneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if !strings.HasPrefix(s, "farpipe:") {
		s = "farpipe: " + s
	}
	return s
}
