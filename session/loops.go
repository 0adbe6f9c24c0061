package session

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// readLoop reads frames from l until it fails and applies them.
func (s *Session) readLoop(l *link) {
	defer s.loops.Done()
	defer l.loops.Done()
	for {
		h, err := l.rd.Next()
		if err == nil && s.ended() {
			continue // the session is over: drain until the peer closes
		}
		if err == nil {
			s.lastRecv.Store(time.Now().UnixNano())
			err = s.handle(l, h)
		}
		if err != nil {
			s.linkFailed(l, err)
			return
		}
	}
}

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{wire.ErrMalformed}, args...)...)
}

// handle applies one frame whose header h has just been read.
func (s *Session) handle(l *link, h wire.Header) error {
	if h.Type == wire.TypeData {
		return s.handleData(l, h)
	}
	p, err := l.rd.Payload()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var st *Stream
	if int(h.Channel) < len(s.streams) {
		st = s.streams[h.Channel]
	}
	switch h.Type {
	case wire.TypeAck:
		w := &st.snd
		if h.Arg < w.acked || h.Arg > w.sent {
			return protoErr("ACK of offset %d on channel %d, outside %d..%d", h.Arg, h.Channel, w.acked, w.sent)
		}
		w.acked = h.Arg
		if h.Flags&wire.FlagFin != 0 {
			// After a resumption the FIN may be acknowledged again, before
			// it is sent again: what counts is that it was written.
			if !w.closed || h.Arg != w.written {
				return protoErr("FIN acknowledged on channel %d before it was sent", h.Channel)
			}
			w.finAcked = true
			s.wakeWriter() // maybe time to say BYE
		}
		st.progressLocked()
	case wire.TypeFin:
		r := &st.rcv
		if r.closed {
			return nil // the reader went away: nothing to verify
		}
		crc := binary.BigEndian.Uint32(p)
		if r.finRecv && h.Arg == r.finTotal && crc == r.finCRC {
			return nil // sent again after a resumption
		}
		if r.finRecv || h.Arg != r.received {
			return protoErr("FIN at offset %d on channel %d after %d bytes", h.Arg, h.Channel, r.received)
		}
		r.finRecv, r.finTotal, r.finCRC = true, h.Arg, crc
		signal(st.rdWake)
		if r.closed {
			s.wakeWriter()
		}
	case wire.TypeStop:
		w := &st.snd
		if h.Arg > w.sent {
			return protoErr("STOP at offset %d on channel %d, beyond %d sent", h.Arg, h.Channel, w.sent)
		}
		w.stopped, w.stopDelivered, w.stopReason = true, max(h.Arg, w.acked), string(p)
		w.acked = w.stopDelivered
		st.progressLocked()
		s.wakeWriter()
	case wire.TypePing:
		s.pongDue, s.pongArg = true, h.Arg
		s.wakeWriter()
	case wire.TypePong:
		if !s.pingAt.IsZero() && uint64(s.pingAt.UnixNano()) == h.Arg {
			s.rtt = time.Since(s.pingAt)
		}
	case wire.TypeAbort:
		return &AbortError{Code: AbortCode(h.Arg), Reason: string(p), Remote: true}
	case wire.TypeBye:
		s.byeRecv = true
		if s.byeSent {
			return errFinished
		}
	default:
		return protoErr("unexpected %v frame after the handshake", h.Type)
	}
	return nil
}

// handleData reads a DATA frame's payload straight into the stream's ring.
func (s *Session) handleData(l *link, h wire.Header) error {
	st := s.streams[h.Channel]
	r := &st.rcv
	s.mu.Lock()
	if r.closed || r.finRecv {
		s.mu.Unlock()
		if r.finRecv && !r.closed {
			return protoErr("DATA after FIN on channel %d", h.Channel)
		}
		return l.rd.Skip() // the reader went away: discard
	}
	if h.Arg != r.received {
		s.mu.Unlock()
		return protoErr("DATA at offset %d on channel %d, expected %d", h.Arg, h.Channel, r.received)
	}
	if r.ring == nil {
		r.ring = make([]byte, s.cfg.Window)
	}
	size := uint64(len(r.ring))
	if uint64(h.Length) > size-(r.received-r.delivered) {
		s.mu.Unlock()
		return protoErr("peer overran the window on channel %d", h.Channel)
	}
	pos := r.received % size
	s.mu.Unlock()

	// The region received..delivered+size is written only here.
	n := uint64(h.Length)
	first := min(n, size-pos)
	if err := l.rd.ReadData(r.ring[pos : pos+first]); err != nil {
		return err
	}
	if first < n {
		if err := l.rd.ReadData(r.ring[:n-first]); err != nil {
			return err
		}
	}
	s.mu.Lock()
	r.received += n
	signal(st.rdWake)
	s.mu.Unlock()
	return nil
}

// batch is what writeLoop sends in one write.
type batch struct {
	ctl  []byte // control frames, then the DATA header
	data []byte // DATA payload, in the ring
	tail []byte // FIN frames, which must follow the data
	bufs net.Buffers
	vec  [3][]byte
}

func appendFrame(b []byte, h wire.Header, payload []byte) []byte {
	h.Length = uint32(len(payload))
	var hdr [wire.HeaderLen]byte
	h.Put(hdr[:])
	return append(append(b, hdr[:]...), payload...)
}

// writeLoop is the only goroutine that writes to l. Control frames go
// first, so acknowledgements never wait behind bulk data.
func (s *Session) writeLoop(l *link) {
	defer s.loops.Done()
	defer l.loops.Done()
	b := &batch{ctl: make([]byte, 0, 1024), tail: make([]byte, 0, 256)}
	next := 0 // round-robin start for DATA
	for {
		s.mu.Lock()
		bye, abort := s.fillLocked(b, &next)
		s.mu.Unlock()
		if len(b.ctl) == 0 && len(b.data) == 0 && len(b.tail) == 0 {
			select {
			case <-s.wake:
				continue
			case <-l.done:
				return
			case <-s.done:
				return
			}
		}
		b.vec = [3][]byte{b.ctl, b.data, b.tail}
		b.bufs = b.vec[:]
		if _, err := b.bufs.WriteTo(l.conn); err != nil {
			s.linkFailed(l, err)
			return
		}
		s.lastSent.Store(time.Now().UnixNano())
		if abort != nil {
			close(abort)
			return
		}
		if bye {
			s.mu.Lock()
			s.byeSent = true
			fin := s.byeRecv
			s.mu.Unlock()
			if fin {
				s.fail(errFinished)
			}
		}
	}
}

// fillLocked builds the next batch from the session's state. It reports
// whether the batch carries BYE, and the channel to close once an ABORT in
// it has been written.
func (s *Session) fillLocked(b *batch, next *int) (bye bool, abortSent chan struct{}) {
	b.ctl, b.data, b.tail = b.ctl[:0], nil, b.tail[:0]
	if e := s.abortMsg; e != nil {
		b.ctl = appendFrame(b.ctl, wire.Header{Type: wire.TypeAbort, Arg: uint64(e.Code)}, []byte(truncate(e.Reason, wire.MaxReason)))
		s.abortMsg = nil
		return false, s.abortSent
	}
	if s.err != nil {
		return false, nil
	}
	if s.pongDue {
		b.ctl = appendFrame(b.ctl, wire.Header{Type: wire.TypePong, Arg: s.pongArg}, nil)
		s.pongDue = false
	}
	if s.pingDue {
		s.pingAt = time.Now()
		b.ctl = appendFrame(b.ctl, wire.Header{Type: wire.TypePing, Arg: uint64(s.pingAt.UnixNano())}, nil)
		s.pingDue = false
	}
	for _, st := range s.streams {
		b.ctl = st.controlLocked(b.ctl)
	}
	for i := range s.streams {
		st := s.streams[(*next+i)%len(s.streams)]
		w := &st.snd
		if w.stopped || w.sent == w.written {
			continue
		}
		size := uint64(len(w.ring))
		pos := w.sent % size
		n := min(w.written-w.sent, uint64(s.cfg.FrameSize), size-pos)
		b.ctl = appendFrame(b.ctl, wire.Header{Type: wire.TypeData, Channel: st.id, Arg: w.sent}, nil)
		binary.BigEndian.PutUint32(b.ctl[len(b.ctl)-12:], uint32(n)) // the header's length field
		b.data = w.ring[pos : pos+n]
		w.sent += n
		*next = (int(st.id) + 1) % len(s.streams)
		break
	}
	for _, st := range s.streams {
		w := &st.snd
		if w.closed && !w.finSent && !w.finAcked && !w.stopped && w.sent == w.written {
			var crc [wire.FinLen]byte
			binary.BigEndian.PutUint32(crc[:], w.crc)
			b.tail = appendFrame(b.tail, wire.Header{Type: wire.TypeFin, Channel: st.id, Arg: w.written}, crc[:])
			w.finSent = true
		}
	}
	if s.closing && !s.byeQueued && len(b.data) == 0 && s.completeLocked() {
		b.tail = appendFrame(b.tail, wire.Header{Type: wire.TypeBye}, nil)
		s.byeQueued = true
		return true, nil
	}
	return false, nil
}

// controlLocked appends the stream's pending ACK and STOP frames.
func (st *Stream) controlLocked(b []byte) []byte {
	r := &st.rcv
	switch {
	case r.eof && !r.finAckSent && !r.stopSent:
		b = appendFrame(b, wire.Header{Type: wire.TypeAck, Channel: st.id, Flags: wire.FlagFin, Arg: r.finTotal}, nil)
		r.finAckSent, r.ackedSent = true, r.finTotal
	case r.closed && !r.stopSent && !r.finAckSent:
		b = appendFrame(b, wire.Header{Type: wire.TypeStop, Channel: st.id, Arg: r.delivered}, nil)
		r.stopSent, r.ackedSent = true, r.delivered
	case !r.stopSent && (r.reack || r.delivered != r.ackedSent && (r.delivered-r.ackedSent >= st.s.ackEvery || r.consumed == r.received)):
		b = appendFrame(b, wire.Header{Type: wire.TypeAck, Channel: st.id, Arg: r.delivered}, nil)
		r.ackedSent, r.reack = r.delivered, false
	}
	return b
}

// completeLocked reports whether every stream is finished both ways.
func (s *Session) completeLocked() bool {
	for _, st := range s.streams {
		if !st.sendDoneLocked() || !st.recvDoneLocked() {
			return false
		}
	}
	return true
}
