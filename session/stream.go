package session

import (
	"context"
	"hash/crc32"
	"sync"
	"time"

	"github.com/farpipe/farpipe/internal/deadline"
	"github.com/farpipe/farpipe/wire"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Stream is one of a session's independent byte channels, readable and
// writable in both directions. Its methods are safe for concurrent use;
// concurrent Reads (or Writes) are serialized.
//
// Delivery: bytes returned by Read count as delivered to the application
// when the application comes back for more (the next Read) or reads EOF,
// that is, once it has had the chance to deal with them. Only delivered
// bytes are acknowledged to the writer and free its window.
type Stream struct {
	s  *Session
	id uint8

	rdMu, wrMu     sync.Mutex // serialize Reads and Writes
	rdDead, wrDead deadline.Deadline
	rdWake, wrWake chan struct{} // cap 1: data arrived / window opened

	// Fields below are guarded by s.mu.
	snd sendHalf
	rcv recvHalf
}

// sendHalf is the writing direction. The ring holds bytes from acked to
// written; those from sent on have not been transmitted yet.
type sendHalf struct {
	ring                 []byte
	acked, sent, written uint64
	crc                  uint32 // of bytes 0..written; written only by Write (under wrMu and s.mu)
	closed               bool   // CloseWrite called: FIN follows the last byte
	finSent, finAcked    bool
	stopped              bool // the peer's reader went away
	stopDelivered        uint64
	stopReason           string
	drainWake            chan struct{} // closed on progress when a Drain waits
	window               int           // effective window: min of both sides
	unsentWait           uint64        // a ReadFrom waits until fewer than this many bytes are unsent; 0: none
	// While the writeLoop transmits ring bytes from flyFrom on, outside
	// the lock, an acknowledgement beyond flyFrom (a peer that resumed
	// with a stale offset already had them) waits in ackLater: the region
	// is not freed before it is sent (Session.landedLocked).
	flying            bool
	flyFrom, ackLater uint64
}

// ackLocked records that the peer has the bytes before off.
func (w *sendHalf) ackLocked(off uint64) {
	if w.flying && off > w.flyFrom {
		w.ackLater = max(w.ackLater, off)
		off = w.flyFrom
	}
	w.acked = max(w.acked, off)
	w.sent = max(w.sent, w.acked) // the ring no longer holds what is acknowledged
}

// recvHalf is the reading direction. The ring holds bytes from consumed to
// received; delivered <= consumed is what has been (or will be) acked.
type recvHalf struct {
	ring                          []byte
	delivered, consumed, received uint64
	ackedSent                     uint64 // last delivered offset sent in an ACK
	crc                           uint32 // of bytes 0..consumed; written only by Read (under rdMu and s.mu)
	finRecv                       bool
	finTotal                      uint64
	finCRC                        uint32
	eof                           bool // EOF returned: checksum verified
	finAckSent                    bool
	closed                        bool   // CloseRead: STOP to send, data discarded
	stopReason                    string // why, sent in STOP (CloseWithError)
	stopSent                      bool
	reack                         bool   // acknowledge again: the connection was resumed
	waiting                       bool   // a Read sleeps waiting for data
	waitOn                        *owner // where that Read is counted as waiting, if anywhere
}

func newStream(s *Session, id uint8) *Stream {
	return &Stream{
		s: s, id: id,
		rdWake: make(chan struct{}, 1), wrWake: make(chan struct{}, 1),
	}
}

// ID returns the stream's channel number.
func (st *Stream) ID() int { return int(st.id) }

// writeErrLocked says why nothing more may be written, or nil.
func (st *Stream) writeErrLocked() error {
	w := &st.snd
	if err := st.s.abortErrLocked(); err != nil {
		return err
	}
	switch {
	case w.stopped:
		return &BrokenPipeError{Delivered: w.stopDelivered, Reason: w.stopReason}
	case w.closed:
		return ErrClosed
	case st.s.err != nil:
		return st.s.err
	}
	return nil
}

// CloseWrite ends the writing direction: the peer reads EOF after the last
// byte written, once the checksum of the stream has been verified.
func (st *Stream) CloseWrite() error {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.snd.closed {
		return nil
	}
	st.snd.closed = true
	signal(st.wrWake)
	s.wakeWriter()
	return nil
}

// CloseRead ends the reading direction: the writer gets a broken pipe, and
// bytes still arriving are discarded. After EOF it only frees resources.
func (st *Stream) CloseRead() error {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st.closeReadLocked()
	return nil
}

// CloseWithError ends the reading direction like CloseRead and tells the
// writer why: its *BrokenPipeError carries err's text as Reason (at most
// wire.MaxReason bytes), so a receiver that cannot write its output can
// say so ("could not write the output: no space left on device") instead
// of looking as if it stopped reading. With err nil it is CloseRead. The
// first close wins: after CloseRead or CloseWithError it does nothing.
func (st *Stream) CloseWithError(err error) error {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && !st.rcv.closed {
		st.rcv.stopReason = truncate(trimFarpipe(err.Error()), wire.MaxReason)
	}
	st.closeReadLocked()
	return nil
}

func (st *Stream) closeReadLocked() {
	r := &st.rcv
	if r.closed {
		return
	}
	r.closed = true
	if r.finRecv && r.consumed == r.finTotal && r.crc == r.finCRC {
		// Everything was read but EOF not yet asked for: that is delivery.
		r.eof = true
		r.delivered = r.consumed
	}
	signal(st.rdWake)
	st.s.kickReaderLocked()
	st.s.wakeWriter()
}

// Drain waits until the peer has confirmed delivery of every byte written so
// far and, after CloseWrite, the end of the stream with a matching checksum.
// It returns a *BrokenPipeError if the reader went away first, the session's
// error if it died, or ctx's error.
func (st *Stream) Drain(ctx context.Context) error {
	s := st.s
	w := &st.snd
	s.mu.Lock()
	for {
		switch {
		case w.stopped:
			err := &BrokenPipeError{Delivered: w.stopDelivered, Reason: w.stopReason}
			s.mu.Unlock()
			return err
		case w.acked == w.written && (!w.closed || w.finAcked):
			s.mu.Unlock()
			return nil
		case s.err != nil:
			err := s.err
			s.mu.Unlock()
			return err
		}
		if w.drainWake == nil {
			w.drainWake = make(chan struct{})
		}
		if l := s.ln; l != nil {
			l.own.reclaim() // the acknowledgements awaited must be read
		}
		wake := w.drainWake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
}

// SetReadDeadline sets the deadline for pending and future Reads.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.rdDead.Set(t)
	st.s.mu.Lock()
	st.s.kickReaderLocked() // a Read with a deadline must not wait on the connection
	st.s.mu.Unlock()
	return nil
}

// SetWriteDeadline sets the deadline for pending and future Writes.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.wrDead.Set(t)
	return nil
}

// Stats describes one stream.
type StreamStats struct {
	Written   uint64 // bytes the application wrote
	Delivered uint64 // of those, confirmed delivered to the peer's application
	Received  uint64 // bytes received from the peer
	Read      uint64 // of those, returned by Read
}

// Stats returns the stream's counters.
func (st *Stream) Stats() StreamStats {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return StreamStats{
		Written: st.snd.written, Delivered: st.snd.acked,
		Received: st.rcv.received, Read: st.rcv.consumed,
	}
}

// progressLocked wakes whoever waits on the send half.
func (st *Stream) progressLocked() {
	signal(st.wrWake)
	if st.snd.drainWake != nil {
		close(st.snd.drainWake)
		st.snd.drainWake = nil
	}
}

// sendDoneLocked reports whether nothing more will be sent on this stream.
func (st *Stream) sendDoneLocked() bool {
	return st.snd.stopped || st.snd.finAcked
}

// recvDoneLocked reports whether nothing more is expected on this stream.
func (st *Stream) recvDoneLocked() bool {
	return st.rcv.finAckSent || st.rcv.stopSent
}
