package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// Session carries wire.MaxChannels independent byte streams over a
// connection, with the pipe contract on each: ordered bytes, acknowledged
// delivery, a bounded window, half-close with a verified checksum, and abort.
// When the connection fails, a resumable session survives: the dialing side
// reconnects and both sides carry on at the exact offsets the peer had
// received (see Config.ResumeTimeout).
//
// Goroutines: a session runs a supervisor (keepalives, linger, reconnects)
// for its whole life and, for each connection it uses, a readLoop and a
// writeLoop, all waited for by Wait. The readLoop reads the connection, or
// lends reading to Reads that wait for data; the writeLoop writes it, or
// lets a small Write on an idle connection write its own frame. One owner
// per connection (link.own) decides who reads and who writes, with its
// invariants in its doc comment.
//
// Lock order, outermost first:
//
//  1. Stream.rdMu or Stream.wrMu;
//  2. the read token (a Read in readDirect holds it; owner.tryRead) or the
//     write lock (owner.wmu, owner.lockWrite);
//  3. Session.resumeMu;
//  4. Session.mu;
//  5. owner.mu, which calls only the connection's SetReadDeadline.
//
// A Deadline's lock and Acceptor.mu are leaves: nothing is locked under them.
type Session struct {
	cfg    *Config
	role   wire.Role
	id     [wire.SessionIDLen]byte
	secret [32]byte // proves a resumption comes from the same peer

	streams [wire.MaxChannels]*Stream

	ackEvery  uint64           // acknowledge after this many delivered bytes; set by the handshake
	window    int              // effective window, both ways; set by the handshake
	resumable bool             // both sides keep a dropped session; set by the handshake
	compress  wire.Compression // chosen by the first handshake (see Config.Compress)
	wake      chan struct{}    // cap 1: the writeLoop has something to send
	linkDown  chan struct{}    // cap 1: the connection failed (for the supervisor)
	done      chan struct{}    // closed when the session has ended
	ctx       context.Context
	cancel    context.CancelFunc
	loops     sync.WaitGroup
	onEnd     func() // called once when the session ends
	ackTimer  *time.Timer

	lastRecv, lastSent atomic.Int64 // unix nanoseconds, on the current link

	resumeMu sync.Mutex // serializes resumptions

	mu         sync.Mutex
	ln         *link // current connection; nil while disconnected
	prev       *link // the last connection that failed
	addrs      [2]net.Addr
	err        error // first fatal error; set once
	closing    bool
	closedAt   time.Time
	byeQueued  bool // BYE is in the batch being written
	byeSent    bool // BYE has been written
	byeRecv    bool
	pingDue    bool
	pongDue    bool
	pongArg    uint64
	aborted    *AbortError // set by abort at once, before it is sent
	abortMsg   *AbortError // to be sent by the writeLoop
	abortSent  chan struct{}
	rtt        time.Duration
	pingAt     time.Time
	ackArmed   bool // ackTimer runs
	downSince  time.Time
	downErr    error
	reconnects int
	resent     uint64
}

func newSession(cfg *Config, role wire.Role) *Session {
	s := &Session{
		cfg:      cfg,
		role:     role,
		wake:     make(chan struct{}, 1),
		linkDown: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ackTimer = time.AfterFunc(time.Hour, func() {
		s.mu.Lock()
		s.ackArmed = false
		s.mu.Unlock()
		s.wakeWriter()
	})
	s.ackTimer.Stop()
	for i := range s.streams {
		s.streams[i] = newStream(s, uint8(i))
	}
	return s
}

// Client runs the handshake as the dialing side over conn and returns the
// established session. With Config.Redial set, the session reconnects
// through it when the connection fails. On error conn is closed.
func Client(ctx context.Context, conn net.Conn, cfg *Config) (*Session, error) {
	cfg, err := cfg.orDefault()
	if err != nil {
		conn.Close()
		return nil, err
	}
	s := newSession(cfg, wire.RoleDialer)
	if cfg.Redial == nil {
		cfg.ResumeTimeout = 0
	}
	l := newLink(conn)
	h, err := newHandshake(s, l)
	if err == nil {
		err = withDeadline(ctx, conn, cfg.HandshakeTimeout, func() error {
			_, err := h.dial(false)
			return err
		})
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	s.begin(l)
	return s, nil
}

// Server runs the handshake as the listening side over conn and returns the
// established session, which cannot be resumed: use an Acceptor for that.
// On error conn is closed.
func Server(ctx context.Context, conn net.Conn, cfg *Config) (*Session, error) {
	cfg, err := cfg.orDefault()
	if err != nil {
		conn.Close()
		return nil, err
	}
	cfg.ResumeTimeout = 0
	return NewAcceptor(cfg).accept(ctx, conn, nil)
}

// begin starts a new session on its first link.
func (s *Session) begin(l *link) {
	s.loops.Add(1)
	go s.supervise()
	s.attach(l, [wire.MaxChannels]uint64{}, false)
}

// Stream returns channel id (0 to wire.MaxChannels-1).
func (s *Session) Stream(id int) *Stream {
	return s.streams[id]
}

// ID returns the session id chosen by the dialer.
func (s *Session) ID() [wire.SessionIDLen]byte { return s.id }

// Compression returns the compression the two sides agreed on for channel
// 0 (see Config.Compress); the session only negotiates it.
func (s *Session) Compression() wire.Compression { return s.compress }

// LocalAddr returns the local address of the current (or last) connection.
func (s *Session) LocalAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[0]
}

// RemoteAddr returns the peer's address on the current (or last) connection.
func (s *Session) RemoteAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[1]
}

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
var errFinished error = &finishedError{}

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
	if s.err != nil || s.aborted != nil {
		s.mu.Unlock()
		return nil
	}
	s.aborted = e
	for _, st := range s.streams {
		st.progressLocked()
		signal(st.rdWake)
	}
	s.kickReaderLocked()
	if s.ln == nil { // disconnected: nobody to tell
		s.mu.Unlock()
		s.fail(e)
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
	case <-s.done: // the connection failed meanwhile
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
	l := s.ln
	for _, st := range s.streams {
		st.progressLocked()
		signal(st.rdWake)
	}
	s.mu.Unlock()
	close(s.done)
	s.cancel()
	s.ackTimer.Stop()
	if ae, ok := err.(*AbortError); ok && !ae.Remote && l != nil {
		// Our ABORT may still be in flight: closing now, with the peer's
		// bytes unread, would reset the connection and could destroy it.
		// Half-close instead; readLoop drains until the peer closes too.
		l.closeWrite(time.Second)
	} else if l != nil {
		l.close()
	}
	if s.onEnd != nil {
		s.onEnd()
	}
}

// abortErrLocked returns the *AbortError if either side aborted the
// session: then nothing more is read or written, not even bytes already
// received.
func (s *Session) abortErrLocked() error {
	if s.aborted != nil {
		return s.aborted
	}
	if ae, ok := s.err.(*AbortError); ok {
		return ae
	}
	return nil
}

// ended reports whether the session has already ended.
func (s *Session) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Wait waits for the session's goroutines to exit.
func (s *Session) Wait() { s.loops.Wait() }

// ackDelay is the longest an acknowledgement of bytes the reader has
// consumed waits for something to ride along with, like TCP's delayed ACK.
const ackDelay = time.Millisecond

// ackSoonLocked makes sure pending acknowledgements go out within ackDelay.
func (s *Session) ackSoonLocked() {
	if !s.ackArmed {
		s.ackArmed = true
		s.ackTimer.Reset(ackDelay)
	}
}

// kickReaderLocked makes a Read that reads the connection itself, if there
// is one, look at its stream again (owner.kick).
func (s *Session) kickReaderLocked() {
	if l := s.ln; l != nil {
		l.own.kick()
	}
}

// wakeWriter tells the writeLoop there may be something to send.
func (s *Session) wakeWriter() { signal(s.wake) }

// Stats describes a session.
type Stats struct {
	Streams    [wire.MaxChannels]StreamStats
	RTT        time.Duration // last keepalive round trip, 0 if none yet
	Reconnects int           // connections resumed after a failure
	Resent     uint64        // bytes sent again after resumptions
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	var st Stats
	for i, x := range s.streams {
		st.Streams[i] = x.Stats()
	}
	s.mu.Lock()
	st.RTT, st.Reconnects, st.Resent = s.rtt, s.reconnects, s.resent
	s.mu.Unlock()
	return st
}

// receivedOffsets returns the bytes received per channel, for a resumption.
func (s *Session) receivedOffsets() (off [wire.MaxChannels]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, st := range s.streams {
		off[i] = st.rcv.received
	}
	return off
}

func (s *Session) event(e Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

// EventKind says what happened to a session's connection.
type EventKind int

// Event kinds.
const (
	// EventDisconnected: the connection failed; the session waits for a
	// resumption.
	EventDisconnected EventKind = iota + 1
	// EventRetry: an attempt to reconnect failed; another follows.
	EventRetry
	// EventResumed: the session carries on over a new connection.
	EventResumed
)

// Event reports a change of a session's connection to Config.OnEvent.
type Event struct {
	Kind    EventKind
	Err     error         // Disconnected, Retry: what failed
	Attempt int           // Retry, Resumed: reconnection attempts so far
	Outage  time.Duration // Resumed: how long the session was disconnected
	// Resumed: per channel, the offset this side resumed sending at (what
	// the peer had received) and what it had itself received.
	SendAt, RecvAt [wire.MaxChannels]uint64
	Resent         uint64 // Resumed: bytes this side sends again
}

func (e Event) String() string {
	switch e.Kind {
	case EventDisconnected:
		return fmt.Sprintf("connection lost (%v)", e.Err)
	case EventRetry:
		return fmt.Sprintf("reconnect attempt %d failed (%v)", e.Attempt, e.Err)
	case EventResumed:
		return fmt.Sprintf("resumed after %.2f s, sending from byte %d, receiving from byte %d, %d bytes resent",
			e.Outage.Seconds(), e.SendAt[0], e.RecvAt[0], e.Resent)
	}
	return "unknown event"
}
