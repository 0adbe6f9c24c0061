package secure

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/farpipe/farpipe/internal/rawio"
	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/wire"
)

// The connections Client and Server hand to the session carry the
// session's optional interfaces (session.Idler, session.Corker,
// session.HandshakeExplainer), so that the session never looks under a
// connection: what is TLS and what is a socket is known here.

// tlsConn is TLS over a transport's connection, corked (corkConn).
type tlsConn struct {
	*tls.Conn
	cork   *corkConn
	idle   func() bool // the socket's, nil if it cannot tell
	caOnly bool        // the listener's chain is verified by VerifyConnection, against the CA only (ClientTLS)
}

// verifiedByCA reports whether the handshake verified the peer's chain
// against the CA itself (caOnly), which crypto/tls does not record in
// VerifiedChains: a failed check fails the handshake.
func (c *tlsConn) verifiedByCA() bool {
	st := c.ConnectionState()
	return c.caOnly && st.HandshakeComplete && len(st.PeerCertificates) > 0
}

func newTLSConn(under net.Conn, wrap func(net.Conn) *tls.Conn) *tlsConn {
	cc := newCorkConn(socket(under))
	return &tlsConn{Conn: wrap(cc), cork: cc, idle: idleFunc(under)}
}

// Cork and Uncork gather the TLS records of a batch (session.Corker).
func (c *tlsConn) Cork()         { c.cork.Cork() }
func (c *tlsConn) Uncork() error { return c.cork.Uncork() }

// Idle reports whether the socket under TLS holds no bytes (session.Idler).
// The session calls it between batches, when the cork holds nothing.
func (c *tlsConn) Idle() bool { return c.idle != nil && c.idle() }

// ExplainHandshake says what a failed TLS handshake means
// (session.HandshakeExplainer).
func (c *tlsConn) ExplainHandshake(err error) error {
	var re tls.RecordHeaderError
	if errors.As(err, &re) {
		if re.RecordHeader[0] == wire.Version {
			// A farpipe peer that does not encrypt: answer it in its
			// language, if TLS left the connection to us.
			e := &session.EncryptionError{Encrypts: true}
			if re.Conn != nil && re.RecordHeader[1] == byte(wire.TypeHello) {
				peer := session.EncryptionError{Encrypts: false}
				session.WriteAbort(re.Conn, session.CodeEncryption, trimFarpipe(peer.Error()))
			}
			return e
		}
		return fmt.Errorf("%w: it sent % x, which is neither TLS nor farpipe", wire.ErrNotFarpipe, re.RecordHeader[:])
	}
	return refusal(err)
}

// refusal returns an *session.AuthError if err is a TLS handshake that
// failed on the merits (a certificate refused, by either side, or no
// certificate given) rather than on the network; nil otherwise.
func refusal(err error) error {
	var (
		cve *tls.CertificateVerificationError
		ale tls.AlertError
		oe  *net.OpError
		ne  net.Error
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cve):
		return &session.AuthError{Reason: "the peer's certificate was refused: " + cve.Err.Error()}
	case errors.As(err, &ale):
		return &session.AuthError{Reason: "the peer refused the TLS handshake: " + ale.Error()}
	case errors.As(err, &oe) && oe.Op == "remote error": // a TLS alert from the peer
		return &session.AuthError{Reason: "the peer refused the TLS handshake: " + oe.Err.Error()}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne),
		errors.Is(err, wire.ErrProtocol):
		return nil
	}
	return &session.AuthError{Reason: "TLS handshake failed: " + trimFarpipe(err.Error())}
}

func trimFarpipe(s string) string {
	const p = "farpipe: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// socket gives a transport's socket connection, TCP or Unix, the
// session.Idler it supports, and reads and writes with raw system calls
// where this system has them (internal/rawio: the goroutines of a pipe end
// then stay on one thread); TLS runs over it too. Any other connection is
// returned as it is.
func socket(conn net.Conn) net.Conn {
	var network string
	switch conn.(type) {
	case *net.TCPConn:
		network = "tcp"
	case *net.UnixConn:
		network = "unix"
	default:
		return conn
	}
	sc := conn.(streamSocket)
	idle := idleFunc(sc)
	if idle == nil {
		return conn
	}
	c := &socketConn{streamSocket: sc, idle: idle}
	if raw, err := rawio.New(sc); err == nil {
		c.raw, c.network, c.laddr, c.raddr = raw, network, sc.LocalAddr(), sc.RemoteAddr()
	}
	return c
}

// streamSocket is what *net.TCPConn and *net.UnixConn have that the
// session uses: writev (through syscall.Conn, see session.BuffersWriter)
// and a half-close.
type streamSocket interface {
	net.Conn
	syscall.Conn
	CloseWrite() error
}

// socketConn is a TCP or Unix socket as socket gives it to the session.
type socketConn struct {
	streamSocket
	idle func() bool

	// raw makes the reads and the large writes, nil where this system has
	// no raw calls; the rest say how to report their errors.
	raw          *rawio.File
	network      string
	laddr, raddr net.Addr // either may be nil (an unnamed Unix socket)
}

// Idle reports whether the socket holds no bytes (session.Idler).
func (c *socketConn) Idle() bool { return c.idle() }

// rawWriteMin is the smallest write made with a raw call. A smaller one
// never outlasts the runtime monitor's tick, and a raw call measured
// slower on a round trip of 64-byte messages (23.5 against 22.5 µs); reads
// are all raw, as a read does not know what it will get.
const rawWriteMin = 64 << 10

func (c *socketConn) Read(p []byte) (int, error) {
	if c.raw == nil {
		return c.streamSocket.Read(p)
	}
	n, err := c.raw.Read(p)
	return n, c.opError("read", err)
}

func (c *socketConn) Write(p []byte) (int, error) {
	if c.raw == nil || len(p) < rawWriteMin {
		return c.streamSocket.Write(p)
	}
	n, err := c.raw.Write(p)
	return n, c.opError("write", err)
}

// WriteBuffers writes v with writev (session.BuffersWriter).
func (c *socketConn) WriteBuffers(v *net.Buffers) (int64, error) {
	if c.raw == nil || lenBuffers(*v) < rawWriteMin {
		return v.WriteTo(c.streamSocket)
	}
	n, err := c.raw.Writev(v)
	return n, c.opError("writev", err)
}

func lenBuffers(v net.Buffers) int {
	n := 0
	for _, b := range v {
		n += len(b)
	}
	return n
}

// opError wraps an error of a raw call as package net does; io.EOF stays
// as it is.
func (c *socketConn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) { // the poller's (a deadline, a closed socket), made for this call
		oe.Op = op
		return oe
	}
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: c.network, Source: c.laddr, Addr: c.raddr, Err: err}
}

// idleFunc returns the idle query of conn's socket, or nil.
func idleFunc(conn net.Conn) func() bool {
	if sc, ok := conn.(syscall.Conn); ok {
		return transport.IdleFunc(sc)
	}
	return nil
}
