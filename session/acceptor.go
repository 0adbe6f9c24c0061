package session

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/farpipe/farpipe/wire"
)

// ErrResumed is returned by Acceptor.Accept when the connection resumed an
// existing session instead of starting a new one: there is nothing to
// accept, and the session carries on by itself.
var ErrResumed = errors.New("farpipe: connection resumed an existing session")

// An Acceptor runs the listening side of handshakes and keeps the sessions
// it created, so that a dialer whose connection failed can resume its
// session on a new connection. A session leaves the table when it ends.
type Acceptor struct {
	cfg *Config

	mu       sync.Mutex
	sessions map[[wire.SessionIDLen]byte]*Session
	// Admit, if set, is asked before a new session is created; a non-nil
	// error refuses it (the peer gets the error's text as an ABORT reason).
	admit func() error
}

// NewAcceptor returns an Acceptor whose sessions use cfg (nil: defaults).
func NewAcceptor(cfg *Config) *Acceptor {
	c, err := cfg.orDefault()
	if err != nil {
		c = DefaultConfig()
	}
	return &Acceptor{cfg: c, sessions: make(map[[wire.SessionIDLen]byte]*Session)}
}

// SetAdmit sets a function asked before each new session is created; an
// error refuses the session and its text reaches the peer.
func (a *Acceptor) SetAdmit(f func() error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.admit = f
}

// Len returns the number of the Acceptor's sessions that have not ended.
func (a *Acceptor) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sessions)
}

// Accept runs the handshake on conn. It returns a new session, or
// ErrResumed when conn resumed one of the Acceptor's sessions. On any other
// error conn is closed.
func (a *Acceptor) Accept(ctx context.Context, conn net.Conn) (*Session, error) {
	if err := a.cfg.Verify(); err != nil {
		conn.Close()
		return nil, err
	}
	return a.accept(ctx, conn, a)
}

// accept is Accept; table is nil for sessions that cannot be resumed.
func (a *Acceptor) accept(ctx context.Context, conn net.Conn, table *Acceptor) (*Session, error) {
	cfg := *a.cfg
	s := newSession(&cfg, wire.RoleListener)
	l := newLink(conn)
	var resumed *Session
	h, err := newHandshake(s, l)
	if err == nil {
		err = withDeadline(ctx, conn, cfg.HandshakeTimeout, func() error {
			if h.t.Dialer, err = h.recvHello(); err != nil {
				return err
			}
			if !h.peer.Resume {
				if err := a.admitNew(); err != nil {
					ae := &AbortError{Code: CodeApplication, Reason: trimFarpipe(err.Error())}
					l.writeAbort(ae)
					return err
				}
				return h.listen(false)
			}
			resumed, err = table.lookup(h, l)
			return err
		})
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resumed != nil {
		// Only now, with conn's deadline cleared: once the session's loops
		// run, the deadline is theirs (a kick, a linger).
		if err := resumed.attachResumed(h, l); err != nil {
			return nil, err
		}
		return nil, ErrResumed
	}
	if table != nil && !table.add(s) {
		// Only a peer that learned a live session's id picks it: it must
		// not replace that session. Checked after authentication, so that
		// a stranger cannot learn which ids are live.
		l.writeAbort(&AbortError{Code: CodeProtocol, Reason: "session id already in use"})
		conn.Close()
		return nil, errIDInUse
	}
	s.begin(l)
	return s, nil
}

func (a *Acceptor) admitNew() error {
	a.mu.Lock()
	f := a.admit
	a.mu.Unlock()
	if f == nil {
		return nil
	}
	return f()
}

// validProof compares two proofs in constant time.
func validProof(got, want [wire.ResumeKeyLen]byte) bool {
	return hmac.Equal(got[:], want[:])
}

func trimFarpipe(s string) string {
	const p = "farpipe: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// errIDInUse refuses a new session whose id is that of a live one.
var errIDInUse = fmt.Errorf("%w: a new session asked for the id of a live one", wire.ErrMalformed)

// add puts s in the table, unless its id is taken.
func (a *Acceptor) add(s *Session) bool {
	a.mu.Lock()
	if _, taken := a.sessions[s.id]; taken {
		a.mu.Unlock()
		return false
	}
	a.sessions[s.id] = s
	a.mu.Unlock()
	s.onEnd = func() {
		a.mu.Lock()
		if a.sessions[s.id] == s {
			delete(a.sessions, s.id)
		}
		a.mu.Unlock()
	}
	return true
}

// lookup finds the session a resuming dialer names, checks its proof, and
// runs the rest of the handshake as that session over l. The session is
// returned on success; attachResumed then makes l its connection.
func (a *Acceptor) lookup(h *handshake, l *link) (*Session, error) {
	refuse := func(reason string) (*Session, error) {
		ae := &AbortError{Code: CodeNoSession, Reason: reason}
		l.writeAbort(ae)
		return nil, fmt.Errorf("farpipe: refused a resumption: %s (%w)", reason, ae)
	}
	if a == nil {
		return refuse("this listener does not resume sessions")
	}
	a.mu.Lock()
	s := a.sessions[h.peer.SessionID]
	a.mu.Unlock()
	// An unknown id and a wrong proof get the same answer, so that a
	// stranger learns nothing by guessing.
	if s == nil || !s.resumable || s.ended() || !validProof(h.peer.ResumeKey, s.resumeProof(wire.RoleDialer, h.peer.Nonce[:], nil)) {
		return refuse("no such session here (it ended, or the listener restarted)")
	}
	return s, s.resumeOn(h)
}

// resumeOn runs the rest of the listener's handshake as s, whose HELLO h
// has read. The connection s may still hold is given up only once the
// dialer has proven the token on the new one (attachResumed), so a
// replayed resumption request disturbs nothing. The offsets this side
// announces may then be stale by what that old connection delivered
// meanwhile; the dialer resends those bytes, and the readLoop drops what
// it already has.
func (s *Session) resumeOn(h *handshake) error {
	s.resumeMu.Lock()
	defer s.resumeMu.Unlock()
	h.s = s
	h.my.Window = uint32(s.cfg.Window)
	return h.listen(true)
}

// attachResumed makes l, over which h resumed s, the session's connection.
func (s *Session) attachResumed(h *handshake, l *link) error {
	s.resumeMu.Lock()
	defer s.resumeMu.Unlock()
	s.mu.Lock()
	old := s.ln
	s.mu.Unlock()
	if old != nil {
		s.linkFailed(old, errors.New("replaced by a new connection from the peer"))
	}
	s.waitPrev()
	return s.attach(l, h.peer.Received, true)
}
