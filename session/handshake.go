package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// The handshake, on a new session and on a resumption alike:
//
//	dialer   -> HELLO
//	listener <- HELLO, AUTH
//	dialer   -> AUTH
//
// Each AUTH proof is bound to both HELLOs of this connection (see
// Transcript). A resuming dialer's HELLO also carries the session id, the
// bytes it received per channel and a proof of the session's secret; the
// listener answers with its own offsets and proof.

// handshake is the state of one handshake on one connection.
type handshake struct {
	s        *Session
	l        *link
	t        Transcript
	my, peer wire.Hello
}

func newHandshake(s *Session, l *link) (*handshake, error) {
	h := &handshake{s: s, l: l, t: Transcript{Conn: l.conn}}
	h.my.Role = s.role
	h.my.Window = uint32(s.cfg.Window)
	h.my.Auth = []wire.AuthMethod{s.cfg.Auth.Method()}
	h.my.ResumeGrace = uint32(s.cfg.ResumeTimeout / time.Second)
	h.my.App = s.cfg.Role
	if s.role == wire.RoleDialer {
		h.my.Compress = s.cfg.offer()
	}
	if _, err := rand.Read(h.my.Nonce[:]); err != nil {
		return nil, err
	}
	return h, nil
}

// withDeadline runs f with conn's deadline set from ctx and timeout, and
// turns a deadline hit into a clear error.
func withDeadline(ctx context.Context, conn net.Conn, timeout time.Duration, f func() error) error {
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(hctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	err := f()
	if !stop() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("farpipe: handshake with %s timed out after %s: is the peer a farpipe of the same release? (%w)", conn.RemoteAddr(), timeout, ErrTimeout)
	}
	if err != nil {
		return err
	}
	return conn.SetDeadline(time.Time{})
}

// dial runs the dialer's side. With resume it asks to resume s and returns
// the bytes the listener received per channel.
func (h *handshake) dial(resume bool) (peerReceived [wire.MaxChannels]uint64, err error) {
	s := h.s
	if resume {
		h.my.SessionID = s.id
		h.my.Resume = true
		h.my.Received = s.receivedOffsets()
		h.my.ResumeKey = s.resumeProof(wire.RoleDialer, h.my.Nonce[:], nil)
	} else if _, err := rand.Read(h.my.SessionID[:]); err != nil {
		return peerReceived, err
	}
	if h.t.Dialer, err = h.sendHello(); err != nil {
		return peerReceived, err
	}
	if h.t.Listener, err = h.recvHello(); err != nil {
		return peerReceived, err
	}
	p := &h.peer
	switch {
	case p.SessionID != h.my.SessionID:
		return peerReceived, fmt.Errorf("%w: listener answered for another session", wire.ErrMalformed)
	case p.Resume != resume:
		return peerReceived, fmt.Errorf("%w: listener answered a resumption with a new session or the reverse", wire.ErrMalformed)
	case resume && !validProof(p.ResumeKey, s.resumeProof(wire.RoleListener, h.my.Nonce[:], p.Nonce[:])):
		return peerReceived, &AbortError{Code: CodeAuth, Reason: "the listener could not prove it holds this session: is another farpipe at that address now?"}
	case len(p.Compress) > 1 || len(p.Compress) == 1 && !knownCompression(p.Compress[0]):
		return peerReceived, fmt.Errorf("%w: listener chose compression %v, which was not offered", wire.ErrMalformed, p.Compress)
	}
	if err := h.recvAuth(); err != nil {
		return peerReceived, err
	}
	if err := h.checkRole(resume, nil); err != nil {
		return peerReceived, err
	}
	if err := h.sendAuth(); err != nil {
		return peerReceived, err
	}
	if !resume {
		h.established()
	}
	return p.Received, h.frameKeys()
}

// listen runs the listener's side after the dialer's HELLO was read into
// h.peer (raw payload in h.t.Dialer). With resume, s is the session being
// resumed and its proof has been checked.
func (h *handshake) listen(resume bool) error {
	s := h.s
	h.my.SessionID = h.peer.SessionID
	if len(h.peer.Compress) > 0 {
		// On a resumption the answer is the session's: it does not change.
		c := s.cfg.choose(h.peer.Compress)
		if resume {
			c = s.compress
		}
		h.my.Compress = []wire.Compression{c}
	}
	if resume {
		h.my.Resume = true
		h.my.Received = s.receivedOffsets()
		h.my.ResumeKey = s.resumeProof(wire.RoleListener, h.peer.Nonce[:], h.my.Nonce[:])
	}
	var err error
	if h.t.Listener, err = h.sendHello(); err != nil {
		return err
	}
	if err := h.sendAuth(); err != nil {
		return err
	}
	if err := h.checkRole(resume, h.recvAuth()); err != nil {
		return err
	}
	if !resume {
		h.established()
	}
	return h.frameKeys()
}

// frameKeys sets up the integrity tags of the connection's frames, when the
// authenticator asks for them (the connection is not encrypted).
func (h *handshake) frameKeys() error {
	fk, ok := h.s.cfg.Auth.(FrameKeyer)
	if !ok {
		return nil
	}
	send, recv, err := fk.FrameKeys(&h.t, h.s.role)
	if err != nil || send == nil {
		return err
	}
	h.l.mac, err = newFrameMAC(send, recv)
	return err
}

// established records what a new session learned from its first handshake.
func (h *handshake) established() {
	s := h.s
	s.id = h.my.SessionID
	window := s.cfg.Window
	if h.peer.Window != 0 {
		window = min(window, int(h.peer.Window))
	}
	for _, st := range s.streams {
		st.snd.window = window
	}
	// Receive rings have the same size as the peer's send rings, so a DATA
	// frame, which never crosses the end of the sender's ring, never
	// crosses the end of the receiver's either.
	s.window = window
	s.ackEvery = uint64(window / 4)
	s.resumable = s.cfg.ResumeTimeout > 0 && h.peer.ResumeGrace > 0
	s.compress = wire.CompressNone
	if c := h.my.Compress; s.role == wire.RoleListener && len(c) == 1 {
		s.compress = c[0]
	}
	if c := h.peer.Compress; s.role == wire.RoleDialer && len(c) == 1 {
		s.compress = c[0]
	}
	// The secret that later resumptions prove knowledge of. Once the
	// connection is encrypted, nobody but the two peers has seen the HELLOs.
	sum := sha256.New()
	sum.Write([]byte("farpipe session secret v1"))
	sum.Write(h.t.Dialer)
	sum.Write(h.t.Listener)
	if sb, ok := s.cfg.Auth.(SecretBinder); ok {
		// Bound to the shared secret too: even someone who saw the HELLOs
		// (without TLS) cannot prove the session without the token.
		sum.Write(sb.BindSecret(&h.t))
	}
	sum.Sum(s.secret[:0])
}

func (h *handshake) sendHello() ([]byte, error) {
	b, err := h.my.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := h.l.writeFrame(wire.Header{Type: wire.TypeHello}, b); err != nil {
		// The first write runs the dialer's TLS handshake.
		if e := h.l.explain(err); e != nil {
			return nil, e
		}
		return nil, fmt.Errorf("%w during the handshake with %s: %v", ErrConnLost, h.l.conn.RemoteAddr(), err)
	}
	return b, nil
}

// recvHello reads the peer's HELLO into h.peer and returns its payload.
func (h *handshake) recvHello() ([]byte, error) {
	p, err := h.l.expect(wire.TypeHello)
	if err != nil {
		return nil, err
	}
	if err := h.peer.UnmarshalBinary(p); err != nil {
		return nil, err
	}
	return append([]byte(nil), p...), h.checkPeer()
}

func (h *handshake) checkPeer() error {
	want := wire.RoleDialer
	if h.s.role == wire.RoleDialer {
		want = wire.RoleListener
	}
	if h.peer.Role != want {
		return fmt.Errorf("%w: peer says it is the %s too: exactly one side must listen", wire.ErrMalformed, h.peer.Role)
	}
	if h.peer.Window != 0 && h.peer.Window < 4096 {
		return fmt.Errorf("%w: peer window of %d bytes is too small", wire.ErrMalformed, h.peer.Window)
	}
	if !hasMethod(h.peer.Auth, h.s.cfg.Auth.Method()) {
		e := &AbortError{Code: CodeAuth, Reason: "no authentication method in common: use the same security options on both sides"}
		h.l.writeAbort(e)
		return e
	}
	return nil
}

// checkRole checks, on a new session, that the authenticated peer's
// application role is one this side accepts (see Config.Role), and turns
// the peer's ABORT for a mismatch (in err) into a *RoleError.
func (h *handshake) checkRole(resume bool, err error) error {
	var ae *AbortError
	switch {
	case errors.As(err, &ae) && ae.Remote && ae.Code == CodeRole:
		return &RoleError{Role: h.my.App, PeerRole: h.peer.App, Remote: true}
	case err != nil:
		return err
	case resume || h.peer.App == "" || len(h.s.cfg.PeerRoles) == 0:
		return nil
	}
	for _, r := range h.s.cfg.PeerRoles {
		if r == h.peer.App {
			return nil
		}
	}
	e := &RoleError{Role: h.my.App, PeerRole: h.peer.App}
	h.l.writeAbort(&AbortError{Code: CodeRole, Reason: trimFarpipe(e.Error())})
	return e
}

func hasMethod(ms []wire.AuthMethod, m wire.AuthMethod) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func (h *handshake) sendAuth() error {
	proof, err := h.s.cfg.Auth.Prove(&h.t, h.s.role)
	if err != nil {
		return err
	}
	b, err := (&wire.Auth{Method: h.s.cfg.Auth.Method(), Proof: proof}).MarshalBinary()
	if err != nil {
		return err
	}
	return h.l.writeFrame(wire.Header{Type: wire.TypeAuth}, b)
}

func (h *handshake) recvAuth() error {
	p, err := h.l.expect(wire.TypeAuth)
	if err != nil {
		return err
	}
	var a wire.Auth
	if err := a.UnmarshalBinary(p); err != nil {
		return err
	}
	if a.Method != h.s.cfg.Auth.Method() {
		err = fmt.Errorf("peer used authentication method %d, want %d", a.Method, h.s.cfg.Auth.Method())
	} else {
		err = h.s.cfg.Auth.Verify(&h.t, h.peer.Role, a.Proof)
	}
	if err != nil {
		h.l.writeAbort(&AbortError{Code: CodeAuth, Reason: "authentication failed: the two sides do not hold the same token (or certificates)"})
		return &AuthError{Reason: trimFarpipe(err.Error())}
	}
	return nil
}

// resumeProof is the HMAC, under the session's secret, that proves a
// resuming side holds the session. The dialer's covers its nonce; the
// listener's covers both nonces.
func (s *Session) resumeProof(role wire.Role, dialerNonce, listenerNonce []byte) (proof [wire.ResumeKeyLen]byte) {
	m := hmac.New(sha256.New, s.secret[:])
	fmt.Fprintf(m, "farpipe resume v1 %s ", role)
	m.Write(s.id[:])
	m.Write(dialerNonce)
	m.Write(listenerNonce)
	m.Sum(proof[:0])
	return proof
}

// expect reads the next frame during a handshake, which must be of type
// want; an ABORT from the peer is returned as an *AbortError.
func (l *link) expect(want wire.Type) ([]byte, error) {
	h, err := l.rd.Next()
	if err != nil {
		return nil, l.handshakeReadErr(err)
	}
	p, err := l.rd.Payload()
	if err != nil {
		return nil, l.handshakeReadErr(err)
	}
	if h.Type == wire.TypeAbort {
		return nil, &AbortError{Code: AbortCode(h.Arg), Reason: string(p), Remote: true}
	}
	if h.Type != want {
		return nil, fmt.Errorf("%w: got %v during the handshake, want %v", wire.ErrMalformed, h.Type, want)
	}
	return p, nil
}

func (l *link) handshakeReadErr(err error) error {
	var ve *wire.VersionError
	switch {
	case errors.As(err, &ve) && ve.Got == 'G':
		return fmt.Errorf("%w: it sent what looks like HTTP", wire.ErrNotFarpipe)
	case errors.As(err, &ve) && ve.Got == 0x16:
		// The first byte of a TLS record: say why in clear, which the
		// peer's TLS stack reports as "not TLS" (see secure's ExplainHandshake).
		e := &EncryptionError{Encrypts: false}
		l.writeAbort(&AbortError{Code: CodeEncryption, Reason: trimFarpipe(e.Error())})
		return e
	case errors.Is(err, wire.ErrProtocol):
		return err
	}
	if e := l.explain(err); e != nil {
		return e
	}
	return fmt.Errorf("%w during the handshake with %s: %v", ErrConnLost, l.conn.RemoteAddr(), err)
}

// explain asks the connection what a failure of its own handshake means
// (HandshakeExplainer); nil if it is none, or the connection has none.
func (l *link) explain(err error) error {
	if x, ok := l.conn.(HandshakeExplainer); ok && err != nil {
		return x.ExplainHandshake(err)
	}
	return nil
}

// writeFrame writes one frame directly; only used before the loops start.
func (l *link) writeFrame(h wire.Header, payload []byte) error {
	h.Length = uint32(len(payload))
	b := make([]byte, wire.HeaderLen, wire.HeaderLen+len(payload))
	h.Put(b)
	_, err := l.conn.Write(append(b, payload...))
	return err
}

// writeAbort tells the peer why the handshake failed, as best it can.
func (l *link) writeAbort(e *AbortError) {
	WriteAbort(l.conn, e.Code, e.Reason)
}

// WriteAbort tells a peer in the middle of a handshake on conn why it is
// refused, with an ABORT frame (at most a second spent writing it). A
// layer under the session that meets a farpipe peer it cannot talk to (TLS
// meeting a peer that does not encrypt) uses it to answer in the peer's
// language.
func WriteAbort(conn net.Conn, code AbortCode, reason string) error {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	return (&link{conn: conn}).writeFrame(wire.Header{Type: wire.TypeAbort, Arg: uint64(code)}, []byte(truncate(reason, wire.MaxReason)))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
