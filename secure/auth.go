package secure

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/wire"
)

// exporterLabel names the TLS keying material the token proof is bound to.
const exporterLabel = "EXPERIMENTAL-farpipe-auth-v1"

// TokenAuth proves knowledge of a shared token: a session.Authenticator.
// Its proof is HMAC-SHA-256 keyed by the token over the prover's role, the
// TLS exporter value of the connection (empty without TLS) and the hashes
// of both HELLO payloads, which hold both sides' fresh nonces: it can be
// neither replayed on another connection nor relayed through a second TLS
// session.
type TokenAuth struct {
	Token []byte
	// NoFrameMAC: the connection never leaves the host, frames need no
	// integrity tags.
	NoFrameMAC bool
}

var _ session.Authenticator = TokenAuth{}

// Method returns wire.AuthToken.
func (TokenAuth) Method() wire.AuthMethod { return wire.AuthToken }

// Prove returns this side's proof.
func (a TokenAuth) Prove(t *session.Transcript, role wire.Role) ([]byte, error) {
	return a.mac(t, role)
}

// Verify checks the peer's proof in constant time.
func (a TokenAuth) Verify(t *session.Transcript, role wire.Role, proof []byte) error {
	want, err := a.mac(t, role)
	if err != nil {
		return err
	}
	if !hmac.Equal(proof, want) {
		return errors.New("the peer does not hold the same token")
	}
	return nil
}

func (a TokenAuth) mac(t *session.Transcript, role wire.Role) ([]byte, error) {
	if len(a.Token) == 0 {
		return nil, ErrNoToken
	}
	exp, err := exporter(t)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, a.Token)
	fmt.Fprintf(m, "farpipe token auth v1 %s", role)
	writeField(m, exp)
	d, l := sha256.Sum256(t.Dialer), sha256.Sum256(t.Listener)
	writeField(m, d[:])
	writeField(m, l[:])
	return m.Sum(nil), nil
}

// tlsState is a TLS connection (*tls.Conn, and Client's and Server's
// connections, which embed one).
type tlsState interface {
	ConnectionState() tls.ConnectionState
}

// exporter returns the connection's TLS exporter value, or nil without TLS.
func exporter(t *session.Transcript) ([]byte, error) {
	tc, ok := t.Conn.(tlsState)
	if !ok {
		return nil, nil
	}
	cs := tc.ConnectionState()
	return cs.ExportKeyingMaterial(exporterLabel, nil, 32)
}

func writeField(m interface{ Write([]byte) (int, error) }, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	m.Write(n[:])
	m.Write(b)
}

// CertAuth accepts a peer because TLS verified its certificate against the
// configured CA: a session.Authenticator for mutual TLS without a token.
type CertAuth struct{}

var _ session.Authenticator = CertAuth{}

// Method returns wire.AuthCert.
func (CertAuth) Method() wire.AuthMethod { return wire.AuthCert }

// Prove returns an empty proof: the TLS handshake was the proof.
func (CertAuth) Prove(*session.Transcript, wire.Role) ([]byte, error) { return nil, nil }

// Verify checks that the connection is TLS with a verified peer certificate.
func (CertAuth) Verify(t *session.Transcript, _ wire.Role, proof []byte) error {
	tc, ok := t.Conn.(tlsState)
	if !ok || len(proof) != 0 {
		return errors.New("no verified certificate from the peer")
	}
	if len(tc.ConnectionState().VerifiedChains) == 0 {
		// Dialing a host-less address, the chain was verified against
		// the CA by the connection's own check (ClientTLS).
		if v, ok := t.Conn.(interface{ verifiedByCA() bool }); !ok || !v.verifiedByCA() {
			return errors.New("no verified certificate from the peer")
		}
	}
	return nil
}

var _ session.FrameKeyer = TokenAuth{}

// FrameKeys derives, for a connection without TLS, the keys that
// authenticate every frame in each direction: HMAC-SHA-256 keyed by the
// token over the sender's role and both HELLOs (with their fresh nonces),
// cut to 128 bits. Over TLS it returns no keys: TLS protects the frames.
func (a TokenAuth) FrameKeys(t *session.Transcript, role wire.Role) (send, recv []byte, err error) {
	if _, ok := t.Conn.(tlsState); ok || a.NoFrameMAC {
		return nil, nil, nil
	}
	peer := wire.RoleDialer
	if role == wire.RoleDialer {
		peer = wire.RoleListener
	}
	return a.frameKey(t, role), a.frameKey(t, peer), nil
}

func (a TokenAuth) frameKey(t *session.Transcript, sender wire.Role) []byte {
	m := hmac.New(sha256.New, a.Token)
	fmt.Fprintf(m, "farpipe frame key v1 %s", sender)
	d, l := sha256.Sum256(t.Dialer), sha256.Sum256(t.Listener)
	writeField(m, d[:])
	writeField(m, l[:])
	return m.Sum(nil)[:16]
}

var _ session.SecretBinder = TokenAuth{}

// BindSecret returns what the token adds to the session's resumption
// secret: HMAC-SHA-256 keyed by the token over both HELLOs.
func (a TokenAuth) BindSecret(t *session.Transcript) []byte {
	m := hmac.New(sha256.New, a.Token)
	m.Write([]byte("farpipe resume secret v1"))
	d, l := sha256.Sum256(t.Dialer), sha256.Sum256(t.Listener)
	writeField(m, d[:])
	writeField(m, l[:])
	return m.Sum(nil)
}
