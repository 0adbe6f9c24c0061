package secure

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

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
	cc := newCorkConn(under)
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

// plain gives a transport's socket connection, used without TLS, the
// session.Idler it supports. The wrappers embed the socket's own type, so
// that CloseWrite and writev (net.Buffers) work as on the socket itself.
func plain(conn net.Conn) net.Conn {
	switch c := conn.(type) {
	case *net.TCPConn:
		if idle := idleFunc(c); idle != nil {
			return &tcpConn{c, idle}
		}
	case *net.UnixConn:
		if idle := idleFunc(c); idle != nil {
			return &unixConn{c, idle}
		}
	}
	return conn
}

type tcpConn struct {
	*net.TCPConn
	idle func() bool
}

// Idle reports whether the socket holds no bytes (session.Idler).
func (c *tcpConn) Idle() bool { return c.idle() }

type unixConn struct {
	*net.UnixConn
	idle func() bool
}

// Idle reports whether the socket holds no bytes (session.Idler).
func (c *unixConn) Idle() bool { return c.idle() }

// idleFunc returns the idle query of conn's socket, or nil.
func idleFunc(conn net.Conn) func() bool {
	if sc, ok := conn.(syscall.Conn); ok {
		return transport.IdleFunc(sc)
	}
	return nil
}
