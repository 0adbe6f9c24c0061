package session

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// readLoop reads frames from l until it fails and applies them.
//
// When a small DATA frame wakes a Read that was waiting for data, the
// readLoop lends reading to Reads: the next Read that has to wait reads
// the connection itself (readDirect) rather than sleeping until the
// readLoop wakes it. A message then costs no switch between goroutines,
// which on a round trip is most of farpipe's overhead over plain TCP. A
// large frame ends the lending: for a stream, the readLoop reading ahead
// while the application writes out what it read is faster. While reading
// is lent the readLoop parks until reading is taken back; l.own (owner)
// says when, and guarantees that a Read waiting for frames is never left
// without a reader.
func (s *Session) readLoop(l *link) {
	defer s.loops.Done()
	defer l.loops.Done()
	for {
		l.own.loopTake(l.done, s.done)
		err := s.applyNext(l)
		lend := l.woke && !l.bulk && err == nil
		l.woke = false
		l.own.loopRelease(lend)
		if err != nil {
			s.linkFailed(l, err)
			return
		}
	}
}

// readDirect reads and applies the next frame from l in the goroutine of
// a Read that waits for data and holds the read token (owner.tryRead); the
// Read then looks at its stream again. It gives the token back.
func (s *Session) readDirect(l *link) {
	var ok bool
	var err error
	if !s.ended() {
		ok, err = l.own.waitFrame(l.rd) // not ok: kicked, nothing read
		if ok {
			err = s.applyNext(l)
		}
	}
	// A stream, not messages: the readLoop reads ahead better.
	keep := err == nil && !(ok && l.bulk)
	l.woke = false
	l.own.readDone(keep)
	if err != nil {
		s.linkFailed(l, err)
	}
}

// applyNext reads the next frame from l and applies it; once the session
// is over it only drains. Called with the read token held.
func (s *Session) applyNext(l *link) error {
	h, err := l.rd.Next()
	if err != nil || s.ended() {
		return err
	}
	s.lastRecv.Store(time.Now().UnixNano())
	return s.handle(l, h)
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
	if err := l.verify(h, p); err != nil {
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
		// Up to written, not sent: after a resumption the peer may have
		// announced a stale offset (resumeOn) while its old connection
		// still delivered bytes beyond it, which it now acknowledges.
		if h.Arg < w.acked || h.Arg > w.written {
			return protoErr("ACK of offset %d on channel %d, outside %d..%d", h.Arg, h.Channel, w.acked, w.written)
		}
		w.ackLocked(h.Arg)
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
		if h.Arg > w.written { // not sent: see TypeAck
			return protoErr("STOP at offset %d on channel %d, beyond %d written", h.Arg, h.Channel, w.written)
		}
		w.stopped, w.stopDelivered, w.stopReason = true, max(h.Arg, w.acked), string(p)
		w.ackLocked(w.stopDelivered)
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
	if h.Arg < r.received && !r.closed {
		s.mu.Unlock()
		return s.handleResent(l, h)
	}
	if r.closed || r.finRecv {
		s.mu.Unlock()
		if r.finRecv && !r.closed {
			return protoErr("DATA after FIN on channel %d", h.Channel)
		}
		return l.skip(h) // the reader went away: discard
	}
	if h.Arg != r.received {
		s.mu.Unlock()
		return protoErr("DATA at offset %d on channel %d, expected %d", h.Arg, h.Channel, r.received)
	}
	if r.ring == nil {
		r.ring = make([]byte, s.window)
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
		if l.mac != nil {
			return protoErr("DATA frame on channel %d crosses the end of the ring", h.Channel)
		}
		if err := l.rd.ReadData(r.ring[:n-first]); err != nil {
			return err
		}
	}
	if err := l.verify(h, r.ring[pos:pos+first]); err != nil {
		return err
	}
	s.mu.Lock()
	r.received += n
	l.woke, l.bulk = r.waiting, n > smallData
	if r.waiting { // the Read needs no other frame: it no longer waits
		st.unwaitLocked()
	}
	signal(st.rdWake)
	s.mu.Unlock()
	return nil
}

// handleResent handles a DATA frame that starts before what was already
// received: bytes sent again after a resumption whose offsets were stale.
// The known part is dropped and the rest taken. Rare: it allocates.
func (s *Session) handleResent(l *link, h wire.Header) error {
	p := make([]byte, h.Length)
	if err := l.rd.ReadData(p); err != nil {
		return err
	}
	if err := l.verify(h, p); err != nil {
		return err
	}
	st := s.streams[h.Channel]
	r := &st.rcv
	s.mu.Lock()
	defer s.mu.Unlock()
	dup := r.received - h.Arg
	if dup >= uint64(len(p)) {
		return nil
	}
	p = p[dup:]
	if r.finRecv {
		return protoErr("DATA after FIN on channel %d", h.Channel)
	}
	if r.ring == nil {
		r.ring = make([]byte, s.window)
	}
	size := uint64(len(r.ring))
	if uint64(len(p)) > size-(r.received-r.delivered) {
		return protoErr("peer overran the window on channel %d", h.Channel)
	}
	for len(p) > 0 { // under s.mu: rare enough
		pos := r.received % size
		n := copy(r.ring[pos:], p)
		r.received += uint64(n)
		p = p[n:]
	}
	signal(st.rdWake)
	return nil
}

// batch is what writeLoop sends in one write: control frames, up to
// maxBatchFrames DATA frames whose payloads stay in the send rings, and the
// FIN and BYE frames that must follow the data.
type batch struct {
	mac     *frameMAC // nil: no integrity tags
	ctl     []byte    // control frames, then the first DATA frame's header
	frames  [maxBatchFrames]dataFrame
	nframes int
	hdr     [wire.HeaderLen]byte // put's scratch: no allocation per frame
	tail    []byte               // FIN frames, which must follow the data
	bufs    net.Buffers
	vec     [2 + 2*maxBatchFrames][]byte
}

// dataFrame is one DATA frame of a batch.
type dataFrame struct {
	data []byte // the payload, in the ring
	hdr  [wire.HeaderLen]byte
	seq  uint64 // its number for the integrity tag
	// glue is written after the payload: its tag, if the link has tags,
	// then the next frame's header, if there is one.
	glue  [TagLen + wire.HeaderLen]byte
	nglue int
}

// maxBatchFrames and batchData bound the DATA a batch carries: four
// frames of the default size, 1 MiB, per system call, as gocopy writes.
// Fewer, larger writes cost less CPU per byte on both ends.
const (
	maxBatchFrames = 4
	batchData      = 1 << 20
)

// smallData is the largest DATA payload copied to join its frame's header
// in one write on a connection without writev (TLS): one record instead of
// several, for small messages.
const smallData = 16 << 10

// seal computes the DATA frames' tags, outside the session's lock (the
// ring regions are not freed before they are sent), and puts each after
// its payload, followed by the next frame's header.
func (b *batch) seal() {
	for i := range b.nframes {
		f := &b.frames[i]
		g := f.glue[:0]
		if b.mac != nil {
			g = b.mac.sealAt(g, f.seq, f.hdr[:], f.data)
		}
		if i+1 < b.nframes {
			g = append(g, b.frames[i+1].hdr[:]...)
		}
		f.nglue = len(g)
	}
}

// dataLen is the DATA payload the batch carries.
func (b *batch) dataLen() int {
	n := 0
	for i := range b.nframes {
		n += len(b.frames[i].data)
	}
	return n
}

// writeTo writes the batch to l in as few system calls (and TLS records)
// as it can: one writev on a TCP or unix socket; otherwise one write for a
// small batch, or the pieces one after the other for a large one, corked
// under TLS so that its records leave together.
func (b *batch) writeTo(l *link) error {
	if l.corker != nil {
		l.corker.Cork()
		err := b.write(l)
		if uerr := l.corker.Uncork(); err == nil {
			err = uerr
		}
		return err
	}
	return b.write(l)
}

func (b *batch) write(l *link) error {
	if l.writev || b.dataLen() > smallData {
		v := append(b.vec[:0], b.ctl)
		for i := range b.nframes {
			f := &b.frames[i]
			v = append(v, f.data, f.glue[:f.nglue])
		}
		b.bufs = append(v, b.tail)
		var err error
		if bw, ok := l.conn.(BuffersWriter); ok {
			_, err = bw.WriteBuffers(&b.bufs)
		} else {
			_, err = b.bufs.WriteTo(l.conn)
		}
		return err
	}
	for i := range b.nframes {
		f := &b.frames[i]
		b.ctl = append(append(b.ctl, f.data...), f.glue[:f.nglue]...)
	}
	b.ctl = append(b.ctl, b.tail...)
	_, err := l.conn.Write(b.ctl)
	return err
}

// put appends a frame, and its integrity tag if the link has them.
func (b *batch) put(dst []byte, h wire.Header, payload []byte) []byte {
	h.Length = uint32(len(payload))
	h.Put(b.hdr[:])
	dst = append(append(dst, b.hdr[:]...), payload...)
	if b.mac != nil {
		dst = b.mac.seal(dst, b.hdr[:], payload)
	}
	return dst
}

// verify checks the integrity tag that follows a frame, if the link has them.
func (l *link) verify(h wire.Header, payload []byte) error {
	if l.mac == nil {
		return nil
	}
	if err := l.rd.ReadTrailer(l.tag[:]); err != nil {
		return err
	}
	return l.mac.verify(h, payload, l.tag[:])
}

// skip discards a DATA frame; its tag is still checked.
func (l *link) skip(h wire.Header) error {
	if l.mac == nil {
		return l.rd.Skip()
	}
	p := make([]byte, h.Length) // rare: only after the reader went away
	if err := l.rd.ReadData(p); err != nil {
		return err
	}
	return l.verify(h, p)
}

// writeLoop writes to l whatever the session has to send, until l or the
// session ends. Control frames go first, so acknowledgements never wait
// behind bulk data. A small Write on an idle connection may write its own
// frame instead (Session.writeNow); l.own makes the two take turns.
func (s *Session) writeLoop(l *link) {
	defer s.loops.Done()
	defer l.loops.Done()
	for {
		l.own.lockWrite()
		wrote, stop := s.flush(l)
		l.own.unlockWrite()
		if stop {
			return
		}
		if !wrote {
			select {
			case <-s.wake:
			case <-l.done:
				return
			case <-s.done:
				return
			}
		}
	}
}

// flush builds one batch and writes it to l. It reports whether it wrote
// anything, and whether l must not be written to again (it failed, or the
// batch carried an ABORT). Called holding writing (owner.lockWrite).
func (s *Session) flush(l *link) (wrote, stop bool) {
	if l.stopped {
		return false, true
	}
	b := l.batch
	s.mu.Lock()
	if s.ln != l { // l failed and was replaced meanwhile
		s.mu.Unlock()
		l.stopped = true
		return false, true
	}
	bye, abort := s.fillLocked(b, &l.next)
	s.mu.Unlock()
	b.seal()
	if len(b.ctl) == 0 && b.nframes == 0 && len(b.tail) == 0 {
		return false, false
	}
	err := b.writeTo(l)
	if b.nframes > 0 {
		s.mu.Lock()
		s.landedLocked()
		s.mu.Unlock()
	}
	if err != nil {
		l.stopped = true
		s.linkFailed(l, err)
		return true, true
	}
	s.lastSent.Store(time.Now().UnixNano())
	if abort != nil {
		l.stopped = true
		close(abort)
		return true, true
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
	return true, false
}

// writeNow writes what a Write just put in the send buffer from the
// caller's goroutine, sparing the switch to the writeLoop, when that is
// sure not to block: the writeLoop is not writing and the kernel holds
// none of the connection's bytes. Otherwise, or if anything is left, it
// wakes the writeLoop.
func (s *Session) writeNow() {
	s.mu.Lock()
	l := s.ln
	s.mu.Unlock()
	if l == nil || !l.own.tryLockWrite() {
		s.wakeWriter()
		return
	}
	if l.stopped || !l.idle() {
		l.own.unlockWrite()
		s.wakeWriter()
		return
	}
	s.flush(l)
	l.own.unlockWrite()
	s.mu.Lock()
	for _, st := range s.streams {
		if w := &st.snd; !w.stopped && w.sent != w.written {
			s.wakeWriter()
			break
		}
	}
	s.mu.Unlock()
}

// fillLocked builds the next batch from the session's state. It reports
// whether the batch carries BYE, and the channel to close once an ABORT in
// it has been written.
func (s *Session) fillLocked(b *batch, next *int) (bye bool, abortSent chan struct{}) {
	b.ctl, b.nframes, b.tail = b.ctl[:0], 0, b.tail[:0]
	if e := s.abortMsg; e != nil {
		b.ctl = b.put(b.ctl, wire.Header{Type: wire.TypeAbort, Arg: uint64(e.Code)}, []byte(truncate(e.Reason, wire.MaxReason)))
		s.abortMsg = nil
		return false, s.abortSent
	}
	if s.err != nil {
		return false, nil
	}
	if s.pongDue {
		b.ctl = b.put(b.ctl, wire.Header{Type: wire.TypePong, Arg: s.pongArg}, nil)
		s.pongDue = false
	}
	if s.pingDue {
		s.pingAt = time.Now()
		b.ctl = b.put(b.ctl, wire.Header{Type: wire.TypePing, Arg: uint64(s.pingAt.UnixNano())}, nil)
		s.pingDue = false
	}
	for _, st := range s.streams {
		b.ctl = st.controlLocked(b, b.ctl)
	}
	for size := 0; b.nframes < maxBatchFrames && size < batchData; {
		n := s.dataFrameLocked(b, next)
		if n == 0 {
			break
		}
		size += n
	}
	for _, st := range s.streams {
		w := &st.snd
		if w.closed && !w.finSent && !w.finAcked && !w.stopped && w.sent == w.written {
			var crc [wire.FinLen]byte
			binary.BigEndian.PutUint32(crc[:], w.crc)
			b.tail = b.put(b.tail, wire.Header{Type: wire.TypeFin, Channel: st.id, Arg: w.written}, crc[:])
			w.finSent = true
		}
	}
	if s.closing && !s.byeQueued && b.nframes == 0 && s.completeLocked() {
		b.tail = b.put(b.tail, wire.Header{Type: wire.TypeBye}, nil)
		s.byeQueued = true
		return true, nil
	}
	return false, nil
}

// dataFrameLocked adds the next DATA frame to b, taking the streams in
// turn from *next, and returns its payload's size: 0 if no stream has
// anything to send.
func (s *Session) dataFrameLocked(b *batch, next *int) int {
	for i := range s.streams {
		st := s.streams[(*next+i)%len(s.streams)]
		w := &st.snd
		if w.stopped || w.sent == w.written {
			continue
		}
		size := uint64(len(w.ring))
		pos := w.sent % size
		n := min(w.written-w.sent, uint64(s.cfg.FrameSize), size-pos)
		f := &b.frames[b.nframes]
		wire.Header{Type: wire.TypeData, Channel: st.id, Length: uint32(n), Arg: w.sent}.Put(f.hdr[:])
		if b.nframes == 0 {
			b.ctl = append(b.ctl, f.hdr[:]...)
		}
		if b.mac != nil {
			f.seq = b.mac.reserve() // the tag is computed outside the lock
		}
		f.data = w.ring[pos : pos+n]
		b.nframes++
		if !w.flying { // the batch's first frame of this stream: nothing from here is freed before it is written
			w.flying, w.flyFrom = true, w.sent
		}
		w.sent += n
		if w.unsentWait > 0 && w.written-w.sent < w.unsentWait {
			w.unsentWait = 0
			signal(st.wrWake)
		}
		*next = (int(st.id) + 1) % len(s.streams)
		return int(n)
	}
	return 0
}

// controlLocked appends the stream's pending ACK and STOP frames.
func (st *Stream) controlLocked(bt *batch, b []byte) []byte {
	r := &st.rcv
	switch {
	case r.eof && !r.finAckSent && !r.stopSent:
		b = bt.put(b, wire.Header{Type: wire.TypeAck, Channel: st.id, Flags: wire.FlagFin, Arg: r.finTotal}, nil)
		r.finAckSent, r.ackedSent = true, r.finTotal
	case r.closed && !r.stopSent && !r.finAckSent:
		var reason []byte // rare: STOP is sent once per stream and resumption
		if r.stopReason != "" {
			reason = []byte(r.stopReason)
		}
		b = bt.put(b, wire.Header{Type: wire.TypeStop, Channel: st.id, Arg: r.delivered}, reason)
		r.stopSent, r.ackedSent = true, r.delivered
	case !r.stopSent && (r.reack || r.delivered != r.ackedSent && (r.delivered-r.ackedSent >= st.s.ackEvery || r.consumed == r.received)):
		b = bt.put(b, wire.Header{Type: wire.TypeAck, Channel: st.id, Arg: r.delivered}, nil)
		r.ackedSent, r.reack = r.delivered, false
	}
	return b
}

// landedLocked ends the flight of the DATA of the batch just written: the
// acknowledgements that waited for it (sendHalf.ackLocked) now count.
func (s *Session) landedLocked() {
	for _, st := range s.streams {
		w := &st.snd
		if !w.flying {
			continue
		}
		w.flying = false
		if w.ackLater > w.acked {
			w.ackLocked(w.ackLater)
			st.progressLocked()
		}
	}
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
