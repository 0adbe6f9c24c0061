package session

import (
	"fmt"
	"net"

	"github.com/farpipe/farpipe/wire"
)

// Transcript is what an Authenticator binds its proof to: the connection
// (a *tls.Conn offers exported keying material) and both HELLO payloads
// exactly as they crossed the wire, which include both sides' nonces.
type Transcript struct {
	Conn     net.Conn
	Dialer   []byte
	Listener []byte
}

// Authenticator proves and verifies knowledge of a shared secret during the
// handshake. Each side sends Prove's result in an AUTH frame after both
// HELLOs; the other side checks it with Verify before any data is accepted.
// Implementations must compare in constant time.
type Authenticator interface {
	// Method is the wire.AuthMethod this authenticator implements.
	Method() wire.AuthMethod
	// Prove returns this side's proof; role is this side's role.
	Prove(t *Transcript, role wire.Role) ([]byte, error)
	// Verify checks the peer's proof; role is the peer's role.
	Verify(t *Transcript, role wire.Role, proof []byte) error
}

// NoAuth authenticates nothing: any peer is accepted. It is the default of
// the bare session layer; the public API always configures a real one.
type NoAuth struct{}

// Method returns wire.AuthNone.
func (NoAuth) Method() wire.AuthMethod { return wire.AuthNone }

// Prove returns an empty proof.
func (NoAuth) Prove(*Transcript, wire.Role) ([]byte, error) { return nil, nil }

// Verify accepts only an empty proof.
func (NoAuth) Verify(_ *Transcript, _ wire.Role, proof []byte) error {
	if len(proof) != 0 {
		return fmt.Errorf("%w: unexpected proof for method none", wire.ErrMalformed)
	}
	return nil
}

// SecretBinder is implemented by an Authenticator whose secret should also
// key the session's resumption secret, so that only a holder of the shared
// secret can resume a session.
type SecretBinder interface {
	BindSecret(t *Transcript) []byte
}
