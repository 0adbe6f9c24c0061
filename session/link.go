package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// link is one connection carrying a session. A session has at most one at a
// time; after a failure a resumption gives it a new one.
type link struct {
	conn  net.Conn
	rd    *wire.Reader
	mac   *frameMAC     // nil: frames carry no tags (TLS protects them)
	done  chan struct{} // closed by close
	once  sync.Once
	loops sync.WaitGroup // readLoop and writeLoop
	// writev: the connection is a socket, which writes a net.Buffers in
	// one system call.
	writev bool
	corker Corker       // conn's, if it gathers writes (TLS); nil if not
	idler  Idler        // conn's, if it can tell that it is idle; nil if not
	tag    [TagLen]byte // verify's buffer for a frame's tag; guarded by the read token

	// own says who reads and who writes conn (see owner).
	own *owner

	// The fields below are guarded by the write side of own (lockWrite).
	batch   *batch
	next    int  // the stream whose DATA goes first next time (round robin)
	stopped bool // conn failed or carried an ABORT: write nothing more

	// Guarded by the read token.
	woke bool // the last frame handled woke a waiting Read
	bulk bool // the last DATA frame handled was large
}

func newLink(conn net.Conn) *link {
	_, writev := conn.(syscall.Conn)
	l := &link{
		conn: conn, rd: wire.NewReader(conn, 64<<10), done: make(chan struct{}), writev: writev,
		batch: &batch{ctl: make([]byte, 0, 1024), tail: make([]byte, 0, 256)},
	}
	l.own = newOwner(conn)
	l.corker, _ = conn.(Corker)
	l.idler, _ = conn.(Idler)
	return l
}

// idle reports whether a small write to l surely returns at once (Idler);
// without an Idler the writeLoop writes everything. Called holding writing
// (owner.lockWrite).
func (l *link) idle() bool {
	return l.idler != nil && l.idler.Idle()
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		l.conn.Close()
	})
}

// closeWrite ends l gently: no more writes, and the read side stays open
// for up to linger so that readLoop drains what the peer still sends until
// it closes its side, then closes l.
func (l *link) closeWrite(linger time.Duration) {
	if cw, ok := l.conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		l.own.setReadLimit(time.Now().Add(linger))
		return
	}
	l.close()
}

// attach makes l the session's connection and starts its loops. peerRecv is
// what the peer had received per channel: sending resumes there. With
// resumed, every acknowledgement, FIN and STOP that the peer may have missed
// is sent again; the peer ignores what it already had.
func (s *Session) attach(l *link, peerRecv [wire.MaxChannels]uint64, resumed bool) error {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		l.close()
		return err
	}
	ev := Event{Kind: EventResumed, Attempt: s.reconnects + 1, Outage: time.Since(s.downSince)}
	for i, st := range s.streams {
		w, r := &st.snd, &st.rcv
		// The peer may announce a stale offset (resumeOn): behind what it
		// acknowledged meanwhile, or, after an earlier resumption, beyond
		// what was sent again since. Only beyond written is impossible.
		pr := max(peerRecv[i], w.acked)
		if pr > w.written {
			s.mu.Unlock()
			l.close()
			err := protoErr("peer resumes channel %d at byte %d, outside %d..%d", i, peerRecv[i], w.acked, w.written)
			s.fail(err)
			return err
		}
		if w.sent > pr {
			ev.Resent += w.sent - pr
		}
		w.sent = pr
		ev.SendAt[i], ev.RecvAt[i] = w.sent, r.received
		if resumed {
			w.finSent = false
			r.reack, r.finAckSent, r.stopSent = true, false, false
		}
	}
	s.byeQueued, s.byeSent, s.byeRecv = false, false, false
	asleep := 0
	for _, st := range s.streams { // Reads asleep now wait for frames from l
		if r := &st.rcv; r.waiting {
			if r.waitOn != nil {
				r.waitOn.unwait()
			}
			r.waitOn = l.own
			asleep++
		}
	}
	l.own.addWaiters(asleep)
	s.ln = l
	s.addrs = [2]net.Addr{l.conn.LocalAddr(), l.conn.RemoteAddr()}
	if resumed {
		s.reconnects++
		s.resent += ev.Resent
	}
	now := time.Now().UnixNano()
	s.lastRecv.Store(now)
	s.lastSent.Store(now)
	l.batch.mac = l.mac
	s.loops.Add(2)
	l.loops.Add(2)
	go s.readLoop(l)
	go s.writeLoop(l)
	s.wakeWriter()
	s.mu.Unlock()
	if resumed {
		s.event(ev)
	}
	return nil
}

// linkFailed handles the failure of l with err: the end of a finished
// session, a fatal error, or a disconnection that a resumption may repair.
func (s *Session) linkFailed(l *link, err error) {
	var ae *AbortError
	s.mu.Lock()
	if s.ln != l || s.err != nil { // an old link, or the session is over
		s.mu.Unlock()
		l.close()
		return
	}
	if e := s.aborted; e != nil { // this side is aborting: no resumption
		s.mu.Unlock()
		s.fail(e)
		l.close() // fail half-closes l to let the ABORT out, but l has failed and nobody reads it now
		return
	}
	// The end of the connection is the end of a finished session once the
	// peer's BYE arrived: the peer then has every acknowledgement it needs
	// from this side. A session complete on this side that has not heard
	// that BYE waits for a resumption like any other (and ends as finished
	// if none comes: tick, reconnect): the acknowledgement of the peer's
	// FIN, which its Drain waits for, may have been lost with the
	// connection.
	complete := s.closing && s.completeLocked()
	finished := s.byeRecv && complete || complete && !s.resumable
	switch {
	case finished || err == errFinished:
		s.mu.Unlock()
		s.fail(errFinished)
		return
	case errors.As(err, &ae) && ae.Remote:
		s.mu.Unlock()
		s.fail(err)
		return
	case errors.Is(err, wire.ErrProtocol):
		s.mu.Unlock()
		s.abort(CodeProtocol, trimFarpipe(err.Error()))
		s.fail(err)
		return
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if !s.resumable {
		s.mu.Unlock()
		s.fail(fmt.Errorf("%w: %v", ErrConnLost, err))
		return
	}
	s.ln, s.prev = nil, l
	s.downSince, s.downErr = time.Now(), err
	if silent, ok := err.(errSilent); ok { // the outage began with the silence
		s.downSince = s.downSince.Add(-time.Duration(silent))
	}
	s.mu.Unlock()
	l.close()
	s.event(Event{Kind: EventDisconnected, Err: err})
	signal(s.linkDown)
}

// waitPrev waits until the loops of the last failed connection have
// exited, so that the offsets a resumption reports are final.
func (s *Session) waitPrev() {
	s.mu.Lock()
	prev := s.prev
	s.mu.Unlock()
	if prev != nil {
		prev.loops.Wait()
	}
}

// errSilent is the failure of a connection on which nothing arrived for
// longer than the keepalive timeout: a black hole, a dead peer.
type errSilent time.Duration

func (e errSilent) Error() string {
	return fmt.Sprintf("nothing heard from the peer for %s", time.Duration(e).Round(100*time.Millisecond))
}

// supervise sends keepalives, detects a silent peer, bounds lingering and
// the wait for a resumption, and, on the dialing side, reconnects.
func (s *Session) supervise() {
	defer s.loops.Done()
	tick := time.NewTicker(s.cfg.KeepaliveInterval / 4)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-s.linkDown:
			if s.role == wire.RoleDialer {
				s.reconnect()
			}
		case now := <-tick.C:
			s.tick(now)
		}
	}
}

func (s *Session) tick(now time.Time) {
	s.mu.Lock()
	l := s.ln
	lingered := s.closing && now.Sub(s.closedAt) > s.cfg.Linger
	var gone error
	if l == nil && now.Sub(s.downSince) > s.cfg.ResumeTimeout {
		gone = s.goneErrLocked()
	}
	quiet := now.Sub(time.Unix(0, s.lastRecv.Load()))
	if l != nil && now.Sub(time.Unix(0, s.lastSent.Load())) >= s.cfg.KeepaliveInterval {
		s.pingDue = true
		s.wakeWriter()
	}
	if l != nil {
		l.own.reclaim() // the readLoop reads again if no Read does
	}
	complete := s.closing && s.completeLocked()
	s.mu.Unlock()
	switch {
	case gone != nil && complete:
		s.fail(errFinished) // what this side had to do was done: see linkFailed
	case gone != nil:
		s.fail(gone)
	case lingered && l == nil && complete:
		s.fail(errFinished)
	case lingered:
		s.abort(CodeTimeout, "gave up delivering after close: the peer did not confirm within "+s.cfg.Linger.String())
	case l != nil && quiet > s.cfg.KeepaliveTimeout:
		s.linkFailed(l, errSilent(quiet))
	}
}

// goneErrLocked is the error of a session whose peer did not come back.
func (s *Session) goneErrLocked() error {
	return fmt.Errorf("%w: the peer did not come back within %s of the connection failing (%v)", ErrConnLost, s.cfg.ResumeTimeout, s.downErr)
}

// reconnect redials with exponential backoff and full jitter until the
// session is resumed, the peer refuses it, or ResumeTimeout has passed.
func (s *Session) reconnect() {
	s.waitPrev()
	s.mu.Lock()
	since := s.downSince
	s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(backoff(attempt-1, s.cfg.BackoffMax))
			select {
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
		}
		until := since.Add(s.cfg.ResumeTimeout)
		if time.Now().After(until) {
			s.mu.Lock()
			err := s.goneErrLocked()
			if s.closing && s.completeLocked() {
				err = errFinished
			}
			s.mu.Unlock()
			s.fail(err)
			return
		}
		err := s.redialOnce(until)
		if err == nil || s.ended() {
			return
		}
		var ae *AbortError
		if errors.As(err, &ae) { // the listener refused: no point in trying again
			s.mu.Lock()
			if s.closing && s.completeLocked() {
				err = errFinished // it had already finished the session: see linkFailed
			}
			s.mu.Unlock()
			s.fail(err)
			return
		}
		s.event(Event{Kind: EventRetry, Attempt: attempt, Err: err})
	}
}

// backoff is the delay before retry n (1, 2, ...): uniformly random between
// zero and min(max, 50 ms × 2ⁿ), the "full jitter" of AWS's analysis, so
// that many clients cut off at once do not come back in lockstep.
func backoff(n int, max time.Duration) time.Duration {
	ceil := 50 * time.Millisecond << min(n, 20)
	if ceil > max || ceil <= 0 {
		ceil = max
	}
	return rand.N(ceil + 1)
}

// redialOnce makes one attempt to resume: a new connection and a resume
// handshake, together bounded by the keepalive timeout (the peer answered
// within it before) and by what is left of the resume timeout.
func (s *Session) redialOnce(until time.Time) error {
	limit := min(s.cfg.KeepaliveTimeout, s.cfg.HandshakeTimeout, time.Until(until))
	ctx, cancel := context.WithTimeout(s.ctx, limit)
	defer cancel()
	conn, err := s.cfg.Redial(ctx)
	if err != nil {
		return err
	}
	l := newLink(conn)
	h, err := newHandshake(s, l)
	var peerRecv [wire.MaxChannels]uint64
	if err == nil {
		err = withDeadline(ctx, conn, limit, func() error {
			var err error
			peerRecv, err = h.dial(true)
			return err
		})
	}
	if err != nil {
		conn.Close()
		return err
	}
	return s.attach(l, peerRecv, true)
}
