package farpipe

import (
	"errors"
	"io"
	"math"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/farpipe/farpipe/session"
)

// Compression of channel 0 (WithCompression) sits above the session: the
// writing side compresses into the session's stream, the reading side
// decompresses what it reads from it. The session carries, acknowledges,
// checksums and on resumption resends the compressed bytes like any
// others, so resumption needs nothing new.
//
// The stream is a series of Zstandard frames (RFC 8878), which any zstd
// decoder reads. Data that does not compress (a block of 128 KiB that
// shrinks by less than 1/32) is not worth the encoder's and the decoder's
// time: the encoder's frame is ended and the data passes in frames of raw
// blocks, copied as they are, for a span (4 MiB, doubling up to 64 MiB
// while the data stays incompressible), or until a block's bytes look
// compressible (the entropy of a sample of 1,024 bytes below 7.5 bits a
// byte); then a new frame tries compression again. CloseWrite ends the
// last frame. ReadFrom reads incompressible data straight into the
// session's send buffer, behind each raw block's header: it is copied
// once, as without compression.

// Compression parameters.
const (
	// flushEvery is the most input the encoder holds before it writes a
	// block: one block of Zstandard's largest size.
	flushEvery = 128 << 10
	// flushDelay is how long after the last write the encoder writes what
	// it holds: a producer that pauses (a prompt, a log line) gets its
	// bytes through within this, so interactive pipes stay interactive.
	flushDelay = time.Millisecond
	// encoderWindow is how far back the encoder looks for matches.
	encoderWindow = 1 << 20
	// maxDecoderWindow bounds what a peer can make the decoder keep: a
	// stream that asks for a larger window is refused.
	maxDecoderWindow = 8 << 20
	// maxMarks bounds the delivery marks kept (see zwriter.delivered).
	maxMarks = 1024
	// Raw spans: how much incompressible data passes without the encoder
	// before it tries again.
	minRawSpan = 4 << 20
	maxRawSpan = 64 << 20
	// rawBlock is the size of a raw block: the largest block of a frame
	// whose window is rawWindow (the descriptor 0x38: 2^17 bytes).
	rawBlock     = 128 << 10
	rawWindowDsc = 0x38
)

// rawFrameHeader opens a frame of raw blocks: the magic number, a frame
// header descriptor with no content size, no checksum and no dictionary,
// and the window descriptor.
var rawFrameHeader = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, rawWindowDsc}

// rawLastBlock ends a frame of raw blocks: an empty raw block marked last.
var rawLastBlock = []byte{0x01, 0x00, 0x00}

// ErrCompressed is wrapped by the error of a Read whose compressed input
// is corrupt or asks for more memory than the limit: the session is
// aborted.
var ErrCompressed = errors.New("farpipe: the peer's compressed stream is corrupt or exceeds the decoder's memory limit")

// zwriter compresses what the application writes into a session stream.
// Lock order: mu, then marksMu. mu is held while the encoder writes to the
// stream (which may block while the window is full); marksMu never is.
type zwriter struct {
	st *session.Stream

	mu        sync.Mutex
	enc       *zstd.Encoder
	in        uint64 // application bytes taken
	out       uint64 // compressed bytes written to st
	unflushed int    // application bytes the encoder holds
	blockOut  uint64 // out when the encoder took the first of them
	lastWrite time.Time
	closed    bool
	err       error // the first error writing to st: every later write fails with it
	timer     *time.Timer
	armed     bool           // the timer is set; flushes owns it
	flushes   sync.WaitGroup // the timer's running callbacks

	raw     bool   // incompressible data: passing it in raw blocks
	rawOpen bool   // a frame of raw blocks is open
	rawLeft int    // bytes to pass raw before trying the encoder again
	rawSpan int    // the next span; doubles while the data stays incompressible
	rawBuf  []byte // a block header and the block

	marksMu sync.Mutex
	marks   []mark // after each flush, oldest first
	base    uint64 // application bytes known delivered
}

// mark says that once out compressed bytes are delivered, the peer has
// received the first in bytes of the application's stream.
type mark struct{ out, in uint64 }

func newZwriter(st *session.Stream) *zwriter {
	z := &zwriter{st: st, rawSpan: minRawSpan}
	// The options are constants: NewWriter cannot fail with them.
	z.enc, _ = zstd.NewWriter(zcount{z},
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1), // no goroutines: it encodes in Write and Flush
		zstd.WithWindowSize(encoderWindow),
		zstd.WithEncoderCRC(false)) // the session checksums the stream
	return z
}

// zcount writes the encoder's output to the stream, counting it. It runs
// with z.mu held.
type zcount struct{ z *zwriter }

func (c zcount) Write(p []byte) (int, error) {
	n, err := c.z.st.Write(p)
	c.z.out += uint64(n)
	return n, err
}

// Write compresses p; the bytes leave within flushDelay of the last Write.
func (z *zwriter) Write(p []byte) (int, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.writeLocked(p)
}

func (z *zwriter) writeLocked(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if z.closed {
		return 0, session.ErrClosed
	}
	total := 0
	for len(p) > 0 {
		if z.raw {
			k := min(len(p), rawBlock, z.rawLeft)
			if err := z.writeRawLocked(p[:k]); err != nil {
				return total, err
			}
			total += k
			p = p[k:]
			continue
		}
		k := min(len(p), flushEvery-z.unflushed)
		if z.unflushed == 0 {
			// The encoder may write the block during Write: the block's
			// compressed size counts from here, not from the flush.
			z.blockOut = z.out
		}
		if _, err := z.enc.Write(p[:k]); err != nil {
			return total, z.fail(err)
		}
		z.in += uint64(k)
		z.unflushed += k
		total += k
		p = p[k:]
		if z.unflushed >= flushEvery {
			if err := z.flushLocked(); err != nil {
				return total, err
			}
		}
	}
	if z.unflushed > 0 {
		z.lastWrite = time.Now()
		z.armLocked()
	}
	return total, nil
}

// ReadFrom compresses r until its EOF. In a raw span it reads r straight
// into the session's send buffer, a raw block at a time (rawSource), as a
// Conn without compression does: incompressible data costs no extra copy.
func (z *zwriter) ReadFrom(r io.Reader) (int64, error) {
	var buf []byte
	var total int64
	for {
		z.mu.Lock()
		if z.raw && z.err == nil && !z.closed {
			// The encoder holds nothing in a raw span (it began with a
			// flush), so holding mu while r blocks delays no flush.
			n, err := z.readRawLocked(r)
			z.mu.Unlock()
			total += n
			if err != errLeaveRaw {
				return total, err
			}
			continue
		}
		z.mu.Unlock()
		if buf == nil {
			buf = make([]byte, flushEvery)
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			z.mu.Lock()
			_, err := z.writeLocked(buf[:n])
			z.mu.Unlock()
			if err != nil {
				return total, err
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// errLeaveRaw ends readRawLocked: the raw span is over.
var errLeaveRaw = errors.New("the raw span is over")

// readRawLocked passes r's bytes in raw blocks until r's EOF (nil), an
// error, or the end of the raw span (errLeaveRaw); it returns the bytes
// of r it took.
func (z *zwriter) readRawLocked(r io.Reader) (int64, error) {
	src := &rawSource{z: z, r: r}
	_, err := z.st.ReadFrom(src)
	if err != nil && err != errLeaveRaw && err != src.rerr {
		return src.n, z.fail(err) // the session's error, not r's
	}
	if len(src.side) > 0 {
		// Bytes that looked compressible, read as the span ended: the
		// encoder takes them.
		if _, werr := z.writeLocked(src.side); werr != nil {
			return src.n, werr
		}
		src.n += int64(len(src.side))
	}
	return src.n, err
}

// rawSource is the reader that readRawLocked gives the session stream's
// ReadFrom: each Read reads r into the region of the send buffer it is
// given, behind the header of a raw block (and of the frame, when it is
// the first block), so the bytes are copied once, from r to the buffer.
// It runs with z.mu held.
type rawSource struct {
	z       *zwriter
	r       io.Reader
	n       int64  // bytes of r taken and given on as raw blocks
	pending []byte // framing (and, in a small region, data) not yet given
	side    []byte // bytes of r that looked compressible: for the encoder
	err     error  // r's error, returned once pending is given
	rerr    error  // r's error other than io.EOF
	small   [minRawRegion]byte
}

// minRawRegion is the smallest region a raw block is read into in place;
// in a smaller one (at the end of the send buffer's ring) the block is
// made aside and given in pieces.
const minRawRegion = 4096

func (s *rawSource) Read(p []byte) (int, error) {
	z := s.z
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		z.out += uint64(n)
		if len(s.pending) == 0 {
			z.markLocked()
		}
		return n, s.leaving(nil)
	}
	if s.err != nil {
		return 0, s.err
	}
	if !z.raw {
		return 0, errLeaveRaw
	}
	hdr := 3
	if !z.rawOpen {
		hdr += len(rawFrameHeader)
	}
	if len(p) < hdr+minRawRegion {
		n, err := s.block(s.small[hdr:hdr+min(len(s.small)-hdr, z.rawLeft)], s.small[:hdr])
		if n == 0 {
			return 0, s.leaving(err)
		}
		s.err = err
		s.pending = append(s.small[:n:n], s.pending...) // before a span's end
		return s.Read(p)
	}
	n, err := s.block(p[hdr:hdr+min(len(p)-hdr, rawBlock, z.rawLeft)], p[:hdr])
	if n > 0 {
		z.out += uint64(n)
		z.markLocked()
	}
	return n, s.leaving(err)
}

// leaving returns err, or errLeaveRaw when the span ended and no framing
// is left to give.
func (s *rawSource) leaving(err error) error {
	if err == nil && !s.z.raw && len(s.pending) == 0 {
		return errLeaveRaw
	}
	return err
}

// block reads a raw block's data from r into data and writes its header
// (and the frame's) into hdr, which sits just before data. It returns how
// many bytes to give from hdr on, and r's error. Data that looks
// compressible ends the span instead, and goes aside for the encoder.
func (s *rawSource) block(data, hdr []byte) (int, error) {
	z := s.z
	n, err := s.r.Read(data)
	if err != nil && err != io.EOF {
		s.rerr = err
	}
	if n == 0 {
		return 0, err
	}
	if looksCompressible(data[:n]) {
		s.side = append(s.side[:0], data[:n]...)
		given := 0
		if z.rawOpen {
			given = copy(hdr, rawLastBlock)
			z.rawOpen = false
		}
		z.leaveRawLocked(minRawSpan)
		return given, err
	}
	z.appendRawHeaderLocked(hdr[:0], n) // exactly len(hdr) bytes: Read sized it
	s.n += int64(n)
	z.in += uint64(n)
	if z.rawLeft -= n; z.rawLeft == 0 {
		s.pending = rawLastBlock
		z.rawOpen = false
		z.leaveRawLocked(z.rawSpan)
	}
	return len(hdr) + n, err
}

// leaveRawLocked ends a raw span (its frame already ended): the encoder
// takes the next bytes, and the next raw span is span long.
func (z *zwriter) leaveRawLocked(span int) {
	z.raw = false
	z.rawSpan = span
	z.enc.Reset(zcount{z})
}

// fail records the first error of the stream under the encoder.
func (z *zwriter) fail(err error) error {
	if z.err == nil {
		z.err = err
	}
	return z.err
}

// flushLocked writes what the encoder holds as a block and marks it. A
// whole block that did not shrink enough ends the frame and starts a raw
// span.
func (z *zwriter) flushLocked() error {
	if z.unflushed == 0 {
		return z.err
	}
	in, out := z.unflushed, z.blockOut
	if err := z.enc.Flush(); err != nil {
		return z.fail(err)
	}
	z.unflushed = 0
	z.markLocked()
	if in < flushEvery {
		return nil // a pause, not a judgement on the data
	}
	if z.out-out < uint64(in-in/32) {
		z.rawSpan = minRawSpan
		return nil
	}
	if err := z.enc.Close(); err != nil {
		return z.fail(err)
	}
	z.raw, z.rawLeft = true, z.rawSpan
	z.rawSpan = min(2*z.rawSpan, maxRawSpan)
	return nil
}

// writeRawLocked passes b (at most a raw block) as a raw block; at the end
// of the raw span it ends the frame and goes back to the encoder.
func (z *zwriter) writeRawLocked(b []byte) error {
	if z.rawBuf == nil {
		z.rawBuf = make([]byte, 0, len(rawFrameHeader)+3+rawBlock)
	}
	if looksCompressible(b) {
		// Back to the encoder at once, without waiting for the span's end.
		if err := z.endRawLocked(); err != nil {
			return err
		}
		z.leaveRawLocked(minRawSpan)
		_, err := z.writeLocked(b)
		return err
	}
	buf := append(z.appendRawHeaderLocked(z.rawBuf[:0], len(b)), b...)
	if _, err := (zcount{z}).Write(buf); err != nil {
		return z.fail(err)
	}
	z.in += uint64(len(b))
	z.markLocked()
	if z.rawLeft -= len(b); z.rawLeft == 0 {
		if err := z.endRawLocked(); err != nil {
			return err
		}
		z.leaveRawLocked(z.rawSpan)
	}
	return nil
}

// appendRawHeaderLocked appends to dst the header of a raw block of n
// bytes, after the header of a frame of raw blocks when none is open (3
// or 9 bytes).
func (z *zwriter) appendRawHeaderLocked(dst []byte, n int) []byte {
	if !z.rawOpen {
		dst = append(dst, rawFrameHeader...)
		z.rawOpen = true
	}
	h := uint32(n) << 3 // not last, type raw (0)
	return append(dst, byte(h), byte(h>>8), byte(h>>16))
}

// endRawLocked ends the open frame of raw blocks, if any.
func (z *zwriter) endRawLocked() error {
	if !z.rawOpen {
		return nil
	}
	z.rawOpen = false
	if _, err := (zcount{z}).Write(rawLastBlock); err != nil {
		return z.fail(err)
	}
	return nil
}

func (z *zwriter) markLocked() {
	z.marksMu.Lock()
	defer z.marksMu.Unlock()
	if len(z.marks) >= maxMarks {
		// Keep every other mark: delivery is then known a little later,
		// never sooner than it happened.
		j := 0
		for i := 1; i < len(z.marks); i += 2 {
			z.marks[j] = z.marks[i]
			j++
		}
		z.marks = z.marks[:j]
	}
	z.marks = append(z.marks, mark{z.out, z.in})
}

// armLocked sets the flush timer, unless it is set.
func (z *zwriter) armLocked() {
	if z.armed || z.closed {
		return
	}
	z.armed = true
	z.flushes.Add(1)
	if z.timer == nil {
		z.timer = time.AfterFunc(flushDelay, z.tick)
	} else {
		z.timer.Reset(flushDelay)
	}
}

// tick flushes once the producer has paused for flushDelay.
func (z *zwriter) tick() {
	defer z.flushes.Done()
	z.mu.Lock()
	defer z.mu.Unlock()
	z.armed = false
	if z.closed || z.unflushed == 0 {
		return
	}
	if wait := flushDelay - time.Since(z.lastWrite); wait > 0 {
		z.armed = true
		z.flushes.Add(1)
		z.timer.Reset(wait)
		return
	}
	z.flushLocked() // an error is kept for the next Write
}

// closeWrite ends the frame: what the encoder holds goes out, and the
// peer's decoder sees the end of the stream.
func (z *zwriter) closeWrite() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.closeLocked()
}

func (z *zwriter) closeLocked() error {
	if z.closed {
		return z.err
	}
	z.closed = true
	z.stopTimerLocked()
	if z.err != nil {
		return z.err
	}
	if z.raw {
		if err := z.endRawLocked(); err != nil {
			return err
		}
	} else if err := z.enc.Close(); err != nil {
		return z.fail(err)
	}
	z.unflushed = 0
	z.markLocked()
	return nil
}

// stopTimerLocked stops the flush timer; a callback already running finds
// the writer closed.
func (z *zwriter) stopTimerLocked() {
	if z.armed && z.timer.Stop() {
		z.armed = false
		z.flushes.Done()
	}
}

// flush writes what the encoder holds (Drain waits for it).
func (z *zwriter) flush() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.closed {
		return z.err
	}
	return z.flushLocked()
}

// close ends the frame if no Write is in progress: a Write blocked on a
// full window fails once the session is closed. Call waitFlushes after
// closing the session.
func (z *zwriter) close() {
	if z.mu.TryLock() {
		z.closeLocked()
		z.mu.Unlock()
	}
}

// waitFlushes waits for a running flush callback, once the session cannot
// block it any more.
func (z *zwriter) waitFlushes() { z.flushes.Wait() }

// stats returns the application bytes written and, of those, the ones
// known delivered, given the compressed bytes delivered.
func (z *zwriter) stats(delivered uint64) (written, appDelivered uint64) {
	z.marksMu.Lock()
	defer z.marksMu.Unlock()
	i := 0
	for i < len(z.marks) && z.marks[i].out <= delivered {
		z.base = z.marks[i].in
		i++
	}
	z.marks = z.marks[i:]
	written = z.base
	if len(z.marks) > 0 {
		written = z.marks[len(z.marks)-1].in
	}
	return written, z.base
}

// looksCompressible reports whether b's bytes, sampled (entropySamples at
// most, evenly spread), have an entropy below 7.5 bits a byte: random or
// compressed data has about 7.8 on such a sample (8 on a large one), text
// about 5. It runs on every raw block, so it is cheap: a histogram and a
// table of c·log2(c), no logarithm.
func looksCompressible(b []byte) bool {
	if len(b) < 1024 {
		return false // too little to tell: the raw span goes on
	}
	stride := max(1, len(b)/entropySamples)
	var count [256]uint16
	n := 0
	for i := 0; i < len(b) && n < entropySamples; i += stride {
		count[b[i]]++
		n++
	}
	// H = log2(n) - Σ c·log2(c) / n
	sum := 0.0
	for _, c := range count {
		sum += clog2c[c]
	}
	return math.Log2(float64(n))-sum/float64(n) < 7.5
}

// entropySamples is how many bytes looksCompressible looks at.
const entropySamples = 1024

// clog2c[c] is c·log2(c) (0 for 0).
var clog2c = func() (t [entropySamples + 1]float64) {
	for c := 1; c <= entropySamples; c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()
