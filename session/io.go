package session

import (
	"errors"
	"hash/crc32"
	"io"
	"strconv"
)

// Read reads delivered bytes in order. It returns io.EOF only after the
// writer's CloseWrite and a verified checksum of the whole stream; if the
// checksum does not match it returns ErrChecksum and aborts the session.
func (st *Stream) Read(p []byte) (int, error) {
	st.rdMu.Lock()
	defer st.rdMu.Unlock()
	s, r := st.s, &st.rcv
	s.mu.Lock()
	st.deliveredLocked() // the application came back: what it had is delivered
	pos, n, err := st.readableLocked()
	if err != nil || len(p) == 0 {
		s.mu.Unlock()
		return 0, err
	}
	n = min(n, len(p))
	s.mu.Unlock()
	// The region consumed..received is not touched by the read loop.
	copy(p, r.ring[pos:pos+n])
	st.consumed(n, crc32.Update(r.crc, castagnoli, p[:n]), false)
	return n, nil
}

// WriteTo writes the stream to w until its verified end, straight from the
// receive buffer (io.Copy uses it). A byte counts as delivered once w has
// accepted it. It returns nil at the end of the stream.
func (st *Stream) WriteTo(w io.Writer) (int64, error) {
	st.rdMu.Lock()
	defer st.rdMu.Unlock()
	s, r := st.s, &st.rcv
	var total int64
	for {
		s.mu.Lock()
		st.deliveredLocked()
		pos, n, err := st.readableLocked()
		s.mu.Unlock()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		b := r.ring[pos : pos+min(n, outChunk)]
		// The checksum reads the first half before the write and the
		// second after it, each while it is in the cache: the first
		// because the write is about to read it, the second because the
		// write just did.
		half := len(b) / 2
		crc := crc32.Update(r.crc, castagnoli, b[:half])
		m, werr := w.Write(b)
		if m < 0 || m > len(b) {
			return total, errInvalidWrite
		}
		if m >= half {
			crc = crc32.Update(crc, castagnoli, b[half:m])
		} else {
			crc = crc32.Update(r.crc, castagnoli, b[:m])
		}
		st.consumed(m, crc, true)
		total += int64(m)
		if werr != nil {
			return total, werr
		}
	}
}

// errInvalidWrite reports a writer that claims more bytes than it was given.
var errInvalidWrite = errors.New("farpipe: the writer reported an impossible byte count")

// outChunk is the most WriteTo writes at once, as gocopy does. Into a pipe,
// fewer, larger writes also meet the reader's copy, which holds the pipe's
// lock, less often: a writer that meets it spins until it ends.
const outChunk = 1 << 20

// deliveredLocked marks what the application consumed as delivered, and
// acknowledges it when enough has accumulated.
func (st *Stream) deliveredLocked() {
	r := &st.rcv
	if r.delivered != r.consumed {
		r.delivered = r.consumed
		if r.delivered-r.ackedSent >= st.s.ackEvery {
			st.s.wakeWriter()
		}
	}
}

// consumed records that the next n bytes of the stream reached the
// application, and crc, the checksum of the stream up to them (the caller
// computes it outside the lock); with delivered they also count as
// delivered.
func (st *Stream) consumed(n int, crc uint32, delivered bool) {
	r := &st.rcv
	st.s.mu.Lock()
	r.crc = crc
	r.consumed += uint64(n)
	if delivered {
		st.deliveredLocked()
	}
	st.s.mu.Unlock()
}

// readableLocked waits until bytes can be read and returns where they are
// in the ring (a contiguous region), or why there are none: io.EOF at the
// verified end of the stream. Called and returns with s.mu held.
func (st *Stream) readableLocked() (pos, n int, err error) {
	s, r := st.s, &st.rcv
	for {
		switch {
		case r.closed:
			return 0, 0, ErrClosed
		case s.abortErrLocked() != nil:
			return 0, 0, s.abortErrLocked()
		case r.received > r.consumed:
			pos := int(r.consumed % uint64(len(r.ring)))
			return pos, int(min(r.received-r.consumed, uint64(len(r.ring)-pos))), nil
		case r.eof:
			return 0, 0, io.EOF
		case r.finRecv && r.consumed == r.finTotal:
			if r.crc != r.finCRC {
				s.mu.Unlock()
				s.abort(CodeChecksum, "stream checksum mismatch on channel "+strconv.Itoa(int(st.id)))
				s.mu.Lock()
				return 0, 0, ErrChecksum
			}
			r.eof = true
			r.delivered = r.consumed
			s.wakeWriter() // send the FIN acknowledgement
			return 0, 0, io.EOF
		case s.err != nil:
			return 0, 0, s.err
		case st.rdDead.Expired():
			return 0, 0, ErrTimeout
		}
		// About to block: acknowledge everything delivered so far, soon.
		// The acknowledgement rides along with whatever this side sends
		// first (a reply, typically), or goes alone after ackDelay.
		if r.delivered != r.ackedSent {
			s.ackSoonLocked()
		}
		if l := s.ln; l != nil {
			// A Read that may time out must not sit in the middle of a
			// frame: it leaves reading to the readLoop.
			if l.own.tryRead(!st.rdDead.Armed()) {
				s.mu.Unlock()
				s.readDirect(l)
				s.mu.Lock()
				continue
			}
			r.waitOn = l.own // counted there as waiting: someone reads for it
		}
		r.waiting = true
		s.mu.Unlock()
		select {
		case <-st.rdWake:
		case <-st.rdDead.Wait():
		case <-s.done:
		}
		s.mu.Lock()
		if r.waiting {
			st.unwaitLocked()
		}
	}
}

// unwaitLocked ends the wait of the stream's Read: it woke up, or what it
// waited for arrived.
func (st *Stream) unwaitLocked() {
	r := &st.rcv
	r.waiting = false
	if r.waitOn != nil {
		r.waitOn.unwait()
		r.waitOn = nil
	}
}

// writeChunk is how much Write copies into the ring before it accounts for
// it and wakes the writeLoop.
const writeChunk = 256 << 10

// Write writes p to the stream, blocking while the window is full. It
// returns a *BrokenPipeError (ErrBrokenPipe) once the peer's reader is gone.
// A Write that times out may have written some bytes (n > 0).
func (st *Stream) Write(p []byte) (int, error) {
	st.wrMu.Lock()
	defer st.wrMu.Unlock()
	total := 0
	for {
		region, err := st.writable(len(p) == 0, 0)
		if err != nil || len(p) == 0 {
			return total, err
		}
		// A slice at a time: the checksum reads bytes still in the cache,
		// and the writeLoop starts sending while the rest is copied.
		region = region[:min(len(region), writeChunk)]
		n := copy(region, p)
		// A small message goes out at once from here if it can, without
		// waking the writeLoop: a round trip costs less.
		direct := n == len(p) && n <= smallData
		if err := st.written(region[:n], !direct); err != nil {
			return total, err
		}
		if direct {
			st.s.writeNow()
		}
		p = p[n:]
		total += n
	}
}

// ReadFrom reads r until EOF straight into the send buffer (io.Copy uses
// it), blocking while the window is full. It returns nil at r's EOF; the
// stream stays open (CloseWrite ends it).
func (st *Stream) ReadFrom(r io.Reader) (int64, error) {
	st.wrMu.Lock()
	defer st.wrMu.Unlock()
	var total int64
	for {
		region, err := st.writable(false, readAhead)
		if err != nil {
			return total, err
		}
		// A slice at a time, as Write: the checksum then reads bytes still
		// in the cache (a whole MiB read from a full pipe would not be).
		n, rerr := r.Read(region[:min(len(region), writeChunk)])
		if err := st.written(region[:n], true); err != nil {
			return total, err
		}
		total += int64(n)
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// readAhead is how far ReadFrom reads ahead of what the writeLoop has
// taken to send. A reader that stays just behind its producer wakes for
// every few KiB the producer writes; one that waits until the writeLoop
// takes a batch finds its source's pipe fuller and reads it in fewer,
// larger reads, as gocopy --verify does: on a pipe of 1 GiB of zeros, a
// third of the blocking reads and of the thread hand-offs that follow.
// It holds back nothing the writeLoop could send: a batch's worth is
// always ready.
const readAhead = batchData

// writable waits for room in the send buffer and returns the free region
// there (contiguous, nonempty), or why nothing may be written. With check,
// it only reports an error and returns no region. With maxUnsent, it also
// waits while that many bytes written are not yet taken by the writeLoop.
func (st *Stream) writable(check bool, maxUnsent uint64) ([]byte, error) {
	s, w := st.s, &st.snd
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if err := st.writeErrLocked(); err != nil {
			return nil, err
		}
		if check {
			return nil, nil
		}
		if st.wrDead.Expired() {
			return nil, ErrTimeout
		}
		if w.ring == nil {
			w.ring = make([]byte, w.window)
		}
		space := uint64(len(w.ring)) - (w.written - w.acked)
		switch {
		case maxUnsent > 0 && w.written-w.sent >= maxUnsent:
			w.unsentWait = maxUnsent // dataFrameLocked wakes us
		case space > 0:
			// The region written..acked+window is free: nobody else touches it.
			pos := int(w.written % uint64(len(w.ring)))
			return w.ring[pos : pos+int(min(space, uint64(len(w.ring)-pos)))], nil
		default:
			if l := s.ln; l != nil {
				l.own.reclaim() // the acknowledgements that open the window must be read
			}
		}
		s.mu.Unlock()
		select {
		case <-st.wrWake:
		case <-st.wrDead.Wait():
		case <-s.done:
		}
		s.mu.Lock()
	}
}

// written records that b, just put in the send buffer, is part of the
// stream, and with wake tells the writeLoop. If the stream was closed
// meanwhile (its FIN may be on its way), b is dropped and ErrClosed
// returned.
func (st *Stream) written(b []byte, wake bool) error {
	w := &st.snd
	crc := crc32.Update(w.crc, castagnoli, b)
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	w.crc = crc
	w.written += uint64(len(b))
	if wake {
		st.s.wakeWriter()
	}
	return nil
}
