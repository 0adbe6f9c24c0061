package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// Session carries wire.MaxChannels independent byte streams over one
// connection, with the pipe contract on each: ordered bytes, acknowledged
// delivery, a bounded window, half-close with a verified checksum, and abort.
//
// Goroutines: a session runs exactly three (readLoop, writeLoop and
// keepaliveLoop), started in start and ended when the session ends; only
// writeLoop writes to the connection. Lock order: Stream.rdMu or
// Stream.wrMu, then Session.mu; deadline mutexes are leaves.
type Session struct {
	conn net.Conn
	rd   *wire.Reader
	cfg  *Config
	role wire.Role
	id   [wire.SessionIDLen]byte

	streams [wire.MaxChannels]*Stream

	ackEvery uint64        // acknowledge after this many delivered bytes; set by greet
	wake     chan struct{} // cap 1: writeLoop has something to do
	done     chan struct{} // closed when the session has ended
	loops    sync.WaitGroup

	lastRecv, lastSent atomic.Int64 // unix nanoseconds

	mu        sync.Mutex
	err       error // first fatal error; set once
	closing   bool
	closedAt  time.Time
	byeQueued bool // BYE is in the batch being written
	byeSent   bool // BYE has been written
	byeRecv   bool
	pingDue   bool
	pongDue   bool
	pongArg   uint64
	abortMsg  *AbortError // to be sent by writeLoop
	abortSent chan struct{}
	rtt       time.Duration
	pingAt    time.Time
}

// Client runs the handshake as the dialing side over conn and returns the
// established session. On error conn is closed.
func Client(ctx context.Context, conn net.Conn, cfg *Config) (*Session, error) {
	return handshake(ctx, conn, cfg, wire.RoleDialer)
}

// Server runs the handshake as the listening side over conn and returns the
// established session. On error conn is closed.
func Server(ctx context.Context, conn net.Conn, cfg *Config) (*Session, error) {
	return handshake(ctx, conn, cfg, wire.RoleListener)
}

func handshake(ctx context.Context, conn net.Conn, cfg *Config, role wire.Role) (*Session, error) {
	cfg, err := cfg.orDefault()
	if err != nil {
		conn.Close()
		return nil, err
	}
	s := newSession(conn, cfg, role)
	hctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(hctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	err = s.greet()
	if !stop() || err != nil {
		conn.Close()
		if hctx.Err() != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("farpipe: handshake with %s timed out after %s: is the peer a farpipe of the same release? (%w)", conn.RemoteAddr(), cfg.HandshakeTimeout, ErrTimeout)
		}
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	s.start()
	return s, nil
}

func newSession(conn net.Conn, cfg *Config, role wire.Role) *Session {
	s := &Session{
		conn: conn,
		rd:   wire.NewReader(conn, 64<<10),
		cfg:  cfg,
		role: role,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	for i := range s.streams {
		s.streams[i] = newStream(s, uint8(i))
	}
	return s
}

// greet exchanges HELLO and AUTH frames:
//
//	dialer   -> HELLO
//	listener <- HELLO, AUTH
//	dialer   -> AUTH
func (s *Session) greet() error {
	var my wire.Hello
	my.Role = s.role
	my.Window = uint32(s.cfg.Window)
	my.Auth = []wire.AuthMethod{s.cfg.Auth.Method()}
	if _, err := rand.Read(my.Nonce[:]); err != nil {
		return err
	}
	t := &Transcript{Conn: s.conn}
	var peer wire.Hello
	if s.role == wire.RoleDialer {
		if _, err := rand.Read(my.SessionID[:]); err != nil {
			return err
		}
		b, err := s.sendHello(&my)
		if err != nil {
			return err
		}
		t.Dialer = b
		if t.Listener, err = s.recvHello(&peer); err != nil {
			return err
		}
		if peer.SessionID != my.SessionID {
			return fmt.Errorf("%w: listener answered for another session", wire.ErrMalformed)
		}
		if err := s.recvAuth(t, wire.RoleListener); err != nil {
			return err
		}
		if err := s.sendAuth(t); err != nil {
			return err
		}
	} else {
		b, err := s.recvHello(&peer)
		if err != nil {
			return err
		}
		t.Dialer = b
		my.SessionID = peer.SessionID
		if t.Listener, err = s.sendHello(&my); err != nil {
			return err
		}
		if err := s.sendAuth(t); err != nil {
			return err
		}
		if err := s.recvAuth(t, wire.RoleDialer); err != nil {
			return err
		}
	}
	s.id = my.SessionID
	window := s.cfg.Window
	if peer.Window != 0 {
		window = min(window, int(peer.Window))
	}
	for _, st := range s.streams {
		st.snd.window = window
	}
	s.ackEvery = uint64(window / 4)
	return nil
}

func (s *Session) sendHello(h *wire.Hello) ([]byte, error) {
	b, err := h.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return b, s.writeFrame(wire.Header{Type: wire.TypeHello}, b)
}

func (s *Session) recvHello(h *wire.Hello) ([]byte, error) {
	p, err := s.expect(wire.TypeHello)
	if err != nil {
		return nil, err
	}
	if err := h.UnmarshalBinary(p); err != nil {
		return nil, err
	}
	want := wire.RoleDialer
	if s.role == wire.RoleDialer {
		want = wire.RoleListener
	}
	if h.Role != want {
		return nil, fmt.Errorf("%w: peer says it is the %s too: exactly one side must listen", wire.ErrMalformed, h.Role)
	}
	if h.Window != 0 && h.Window < 4096 {
		return nil, fmt.Errorf("%w: peer window of %d bytes is too small", wire.ErrMalformed, h.Window)
	}
	if !hasMethod(h.Auth, s.cfg.Auth.Method()) {
		return nil, &AbortError{Code: CodeAuth, Reason: "the peer does not offer this side's authentication method: use the same security options on both sides"}
	}
	return append([]byte(nil), p...), nil
}

func hasMethod(ms []wire.AuthMethod, m wire.AuthMethod) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func (s *Session) sendAuth(t *Transcript) error {
	proof, err := s.cfg.Auth.Prove(t, s.role)
	if err != nil {
		return err
	}
	b, err := (&wire.Auth{Method: s.cfg.Auth.Method(), Proof: proof}).MarshalBinary()
	if err != nil {
		return err
	}
	return s.writeFrame(wire.Header{Type: wire.TypeAuth}, b)
}

func (s *Session) recvAuth(t *Transcript, peerRole wire.Role) error {
	p, err := s.expect(wire.TypeAuth)
	if err != nil {
		return err
	}
	var a wire.Auth
	if err := a.UnmarshalBinary(p); err != nil {
		return err
	}
	if a.Method != s.cfg.Auth.Method() {
		err = fmt.Errorf("peer used authentication method %d, want %d", a.Method, s.cfg.Auth.Method())
	} else {
		err = s.cfg.Auth.Verify(t, peerRole, a.Proof)
	}
	if err != nil {
		ae := &AbortError{Code: CodeAuth, Reason: "authentication failed"}
		s.writeAbort(ae)
		return fmt.Errorf("farpipe: authentication failed: %v (%w)", err, ae)
	}
	return nil
}

// expect reads the next frame during the handshake, which must be of type
// want; an ABORT from the peer is returned as an *AbortError.
func (s *Session) expect(want wire.Type) ([]byte, error) {
	h, err := s.rd.Next()
	if err != nil {
		return nil, s.handshakeReadErr(err)
	}
	p, err := s.rd.Payload()
	if err != nil {
		return nil, s.handshakeReadErr(err)
	}
	if h.Type == wire.TypeAbort {
		return nil, &AbortError{Code: AbortCode(h.Arg), Reason: string(p), Remote: true}
	}
	if h.Type != want {
		return nil, fmt.Errorf("%w: got %v during the handshake, want %v", wire.ErrMalformed, h.Type, want)
	}
	return p, nil
}

func (s *Session) handshakeReadErr(err error) error {
	var ve *wire.VersionError
	switch {
	case errors.As(err, &ve) && ve.Got == 'G':
		return fmt.Errorf("%w: it sent what looks like HTTP", wire.ErrNotFarpipe)
	case errors.Is(err, wire.ErrProtocol):
		return err
	}
	return fmt.Errorf("%w during the handshake with %s: %v", ErrConnLost, s.conn.RemoteAddr(), err)
}

// writeFrame writes one frame directly; only used before the loops start.
func (s *Session) writeFrame(h wire.Header, payload []byte) error {
	h.Length = uint32(len(payload))
	b := make([]byte, wire.HeaderLen, wire.HeaderLen+len(payload))
	h.Put(b)
	_, err := s.conn.Write(append(b, payload...))
	return err
}

func (s *Session) writeAbort(e *AbortError) {
	s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	s.writeFrame(wire.Header{Type: wire.TypeAbort, Arg: uint64(e.Code)}, []byte(truncate(e.Reason, wire.MaxReason)))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Session) start() {
	now := time.Now().UnixNano()
	s.lastRecv.Store(now)
	s.lastSent.Store(now)
	s.loops.Add(3)
	go s.readLoop()
	go s.writeLoop()
	go s.keepaliveLoop()
}

// Stream returns channel id (0 to wire.MaxChannels-1).
func (s *Session) Stream(id int) *Stream {
	return s.streams[id]
}

// ID returns the session id chosen by the dialer.
func (s *Session) ID() [wire.SessionIDLen]byte { return s.id }

// LocalAddr and RemoteAddr return the connection's addresses.
func (s *Session) LocalAddr() net.Addr { return s.conn.LocalAddr() }

// RemoteAddr returns the peer's address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// Done is closed when the session has ended, cleanly or not.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it runs or after a clean
// end.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(s.err, errFinished) {
		return nil
	}
	return s.err
}

// errFinished ends a session whose streams all completed.
var errFinished = &closedError{}

// Close ends the session gracefully and returns at once: every stream's
// writing direction is closed (what was written is still delivered, for up
// to Config.Linger) and every unfinished reading direction is stopped. The
// session's goroutines exit once the peer has confirmed.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	s.closing = true
	s.closedAt = time.Now()
	for _, st := range s.streams {
		st.snd.closed = true
		st.closeReadLocked()
		signal(st.wrWake)
	}
	s.wakeWriter()
	return nil
}

// Abort ends the session at once: the peer's pending and future operations
// fail with an *AbortError carrying reason. Abort waits at most a second for
// the ABORT frame to be sent.
func (s *Session) Abort(reason string) error {
	return s.abort(CodeApplication, reason)
}

// AbortWith is Abort with a code other than CodeApplication.
func (s *Session) AbortWith(code AbortCode, reason string) error {
	return s.abort(code, reason)
}

func (s *Session) abort(code AbortCode, reason string) error {
	e := &AbortError{Code: code, Reason: reason}
	s.mu.Lock()
	if s.err != nil || s.abortMsg != nil {
		s.mu.Unlock()
		return nil
	}
	s.abortMsg = e
	s.abortSent = make(chan struct{})
	sent := s.abortSent
	s.wakeWriter()
	s.mu.Unlock()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-sent:
	case <-t.C:
	}
	s.fail(e)
	return nil
}

// fail ends the session with err (the first error wins), closes the
// connection and wakes every waiter.
func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	for _, st := range s.streams {
		st.progressLocked()
		signal(st.rdWake)
	}
	s.mu.Unlock()
	close(s.done)
	s.conn.Close()
}

// abortedLocked reports whether either side aborted the session: then
// nothing more is read, not even bytes already received.
func (s *Session) abortedLocked() bool {
	_, ok := s.err.(*AbortError)
	return ok
}

// Wait waits for the session's goroutines to exit.
func (s *Session) Wait() { s.loops.Wait() }

// wakeWriter tells writeLoop there may be something to send.
func (s *Session) wakeWriter() { signal(s.wake) }

// Stats describes a session.
type Stats struct {
	Streams [wire.MaxChannels]StreamStats
	RTT     time.Duration // last keepalive round trip, 0 if none yet
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	var st Stats
	for i, x := range s.streams {
		st.Streams[i] = x.Stats()
	}
	s.mu.Lock()
	st.RTT = s.rtt
	s.mu.Unlock()
	return st
}
