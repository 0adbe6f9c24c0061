package farpipe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/farpipe/farpipe/session"
)

// The reading side of compression (see compress.go for the writing side).
// Frames of raw blocks, which the writer sends for incompressible data,
// are zreader's own work: their blocks go from the session's receive
// buffer to the application as they are (WriteTo: straight from the
// buffer; Read: one copy), as without compression. Any other frame is the
// zstd decoder's, which frameSource gives exactly that frame.

// zsource is what zreader reads: a session stream (in tests, any reader
// that can write itself to a writer).
type zsource interface {
	io.Reader
	io.WriterTo
}

// zreader decompresses what a session stream delivers.
type zreader struct {
	st    zsource
	abort func(reason string) // ends the session: the stream cannot be decoded

	mu       sync.Mutex
	dec      *zstd.Decoder // made for the first frame it decodes
	fs       frameSource   // the decoder's source: the frame it decodes
	inDec    bool          // a frame is the decoder's
	decReady bool          // and the decoder was reset to read it
	err      error         // the stream cannot be decoded: final

	// The raw path, between the decoder's frames.
	hdr     [6]byte // the frame header or block header being gathered
	nhdr    int
	inRaw   bool // in a frame of raw blocks, past its header
	left    int  // bytes of the current raw block still to come
	last    bool // the current raw block is its frame's last
	scratch [6]byte

	n atomic.Uint64 // decompressed bytes returned
}

func newZreader(s *session.Session, st *session.Stream) *zreader {
	return &zreader{st: st, abort: func(reason string) { s.AbortWith(session.CodeProtocol, reason) }}
}

// errDecoderFrame stops the raw path: a frame for the decoder begins.
var errDecoderFrame = errors.New("a frame for the decoder")

// need returns how many header bytes the raw path takes next; 0 in a
// raw block's data.
func (z *zreader) need() int {
	switch {
	case z.left > 0:
		return 0
	case z.inRaw:
		return 3 - z.nhdr
	}
	return len(rawFrameHeader) - z.nhdr
}

// header takes b, the next header bytes (at most need()). It returns
// errDecoderFrame when they begin a frame other than raw blocks: the
// decoder reads it, starting with the bytes gathered.
func (z *zreader) header(b []byte) error {
	z.nhdr += copy(z.hdr[z.nhdr:], b)
	if !z.inRaw {
		if !bytes.Equal(z.hdr[:z.nhdr], rawFrameHeader[:z.nhdr]) {
			z.fs.reset(z.st, z.hdr[:z.nhdr])
			z.nhdr = 0
			z.inDec, z.decReady = true, false
			return errDecoderFrame
		}
		if z.nhdr == len(rawFrameHeader) {
			z.inRaw, z.nhdr = true, 0
		}
		return nil
	}
	if z.nhdr < 3 {
		return nil
	}
	z.nhdr = 0
	h := uint32(z.hdr[0]) | uint32(z.hdr[1])<<8 | uint32(z.hdr[2])<<16
	if h>>1&3 != 0 {
		return z.corrupt("a frame of raw blocks holds a block of another type")
	}
	if h>>3 > rawBlock {
		return z.corrupt(fmt.Sprintf("a raw block of %d bytes exceeds its frame's window", h>>3))
	}
	z.left, z.last = int(h>>3), h&1 == 1
	z.blockDone()
	return nil
}

// blockDone ends the frame after its last block's data.
func (z *zreader) blockDone() {
	if z.left == 0 && z.last {
		z.inRaw, z.last = false, false
	}
}

// atEnd checks that the stream ended between frames.
func (z *zreader) atEnd() error {
	if z.inRaw || z.nhdr > 0 || z.left > 0 {
		return z.corrupt("the stream ended in the middle of a block")
	}
	return nil
}

// corrupt makes the stream's failure final and aborts the session.
func (z *zreader) corrupt(reason string) error {
	z.err = fmt.Errorf("%w (%s): the session was aborted", ErrCompressed, reason)
	z.abort("the compressed stream could not be decoded: " + reason)
	return z.err
}

func (z *zreader) Read(p []byte) (int, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for {
		switch {
		case z.err != nil:
			return 0, z.err
		case len(p) == 0:
			return 0, nil
		case z.inDec:
			if err := z.resetDecoder(); err != nil {
				return 0, err
			}
			n, err := z.dec.Read(p)
			z.n.Add(uint64(n))
			if err == io.EOF {
				if err = z.frameEnd(nil); err == nil && n == 0 {
					continue
				}
				return n, err
			}
			return n, z.check(err)
		case z.left > 0:
			n, err := z.st.Read(p[:min(len(p), z.left)])
			z.left -= n
			z.n.Add(uint64(n))
			z.blockDone()
			if err == io.EOF {
				return n, z.corrupt("the stream ended in the middle of a block")
			}
			return n, err
		}
		n, err := z.st.Read(z.scratch[:z.need()])
		if n > 0 {
			if herr := z.header(z.scratch[:n]); herr != nil && herr != errDecoderFrame {
				return 0, herr
			}
		}
		if err == io.EOF && n == 0 {
			if err := z.atEnd(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
	}
}

// WriteTo writes the decompressed stream to w until its end.
func (z *zreader) WriteTo(w io.Writer) (int64, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	var total int64
	for {
		if z.err != nil {
			return total, z.err
		}
		if z.inDec {
			n, err := z.decodeTo(w)
			total += n
			if err != nil {
				return total, err
			}
			continue
		}
		sink := &rawSink{z: z, w: w}
		_, err := z.st.WriteTo(sink)
		total += sink.n
		switch {
		case err == errDecoderFrame:
		case err == nil:
			return total, z.atEnd()
		case z.err != nil:
			return total, z.err
		default:
			return total, err // w's error or the stream's
		}
	}
}

// rawSink takes the stream's bytes on the raw path of WriteTo: headers are
// gathered, raw blocks' data goes to w as it is.
type rawSink struct {
	z *zreader
	w io.Writer
	n int64 // bytes written to w
}

func (s *rawSink) Write(p []byte) (int, error) {
	z := s.z
	i := 0
	for i < len(p) {
		if z.left > 0 {
			m, err := s.w.Write(p[i : i+min(z.left, len(p)-i)])
			z.left -= m
			i += m
			s.n += int64(m)
			z.n.Add(uint64(m))
			z.blockDone()
			if err != nil {
				return i, err
			}
			continue
		}
		k := min(z.need(), len(p)-i)
		if err := z.header(p[i : i+k]); err != nil {
			return i + k, err // with errDecoderFrame, the frame source has the k bytes
		}
		i += k
	}
	return len(p), nil
}

// decodeTo writes the decoder's frame to w.
func (z *zreader) decodeTo(w io.Writer) (int64, error) {
	if err := z.resetDecoder(); err != nil {
		return 0, err
	}
	cw := &zcounted{w: w, n: &z.n}
	n, err := z.dec.WriteTo(cw)
	if err != nil && cw.err == err {
		return n, err // w's own error
	}
	return n, z.frameEnd(err)
}

// resetDecoder points the decoder at the frame source, once a frame.
func (z *zreader) resetDecoder() error {
	if z.decReady {
		return nil
	}
	z.decReady = true
	if z.dec == nil {
		dec, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1), // no goroutines: it decodes in Read
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxDecoderWindow),
			zstd.WithDecoderMaxMemory(4*maxDecoderWindow))
		if err != nil {
			return z.check(err)
		}
		z.dec = dec
	}
	return z.check(z.dec.Reset(&z.fs))
}

// frameEnd takes the decoder's result at the end of its source: nil (or
// io.EOF) when the frame source gave the whole frame hands the stream
// back to the raw path.
func (z *zreader) frameEnd(err error) error {
	if err != nil && err != io.EOF {
		return z.check(err)
	}
	if !z.fs.done {
		if z.fs.err != nil && z.fs.err != io.EOF {
			return z.fs.err // the stream's error: it may not be final (a deadline)
		}
		return z.corrupt("the stream ended in the middle of a frame")
	}
	z.inDec = false
	return nil
}

type zcounted struct {
	w   io.Writer
	n   *atomic.Uint64
	err error
}

func (c *zcounted) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	c.err = err
	return n, err
}

// check turns a decoder error into ErrCompressed, aborting the session;
// the stream's own errors pass unchanged.
func (z *zreader) check(err error) error {
	switch {
	case err == nil:
		return nil
	case err == z.fs.err && err != io.EOF:
		return err // the stream's error: it may not be final (a deadline)
	case errors.Is(err, io.ErrUnexpectedEOF) && z.fs.err == io.EOF, err == io.EOF:
		return z.corrupt("the stream ended in the middle of a block")
	}
	return z.corrupt(err.Error())
}

// frameSource gives the decoder one frame: the bytes the raw path
// gathered, then the stream's, up to the frame's end, then io.EOF. It
// parses just enough of the frame (RFC 8878: the header's size, each
// block's size) to find its end; the decoder checks everything.
type frameSource struct {
	r       io.Reader
	pre     [6]byte
	prefix  []byte
	err     error // the stream's last error
	part    framePart
	want    int64 // bytes to the end of the part
	buf     [4]byte
	nbuf    int
	desc    byte // the frame header descriptor
	lastBlk bool
	done    bool // the frame's end: io.EOF from here
}

// framePart is the part of a frame that frameSource reads.
type framePart int

const (
	partMagic framePart = iota
	partDesc
	partHeaderRest
	partBlockHeader
	partBlockData
	partChecksum
	partSkipSize
	partSkipData
)

func (f *frameSource) reset(r io.Reader, prefix []byte) {
	*f = frameSource{r: r, part: partMagic, want: 4}
	f.prefix = f.pre[:copy(f.pre[:], prefix)]
}

func (f *frameSource) Read(p []byte) (int, error) {
	if f.done {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), f.want)]
	var n int
	var err error
	if len(f.prefix) > 0 {
		n = copy(p, f.prefix)
		f.prefix = f.prefix[n:]
	} else {
		n, err = f.r.Read(p)
		f.err = err
	}
	f.advance(p[:n])
	return n, err
}

// advance takes b, at most the rest of the current part.
func (f *frameSource) advance(b []byte) {
	if f.part != partBlockData && f.part != partSkipData && f.part != partHeaderRest {
		f.nbuf += copy(f.buf[f.nbuf:], b)
	}
	if f.want -= int64(len(b)); f.want > 0 {
		return
	}
	le := func(n int) int64 {
		var v int64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | int64(f.buf[i])
		}
		return v
	}
	part := f.part
	f.nbuf = 0
	switch part {
	case partMagic:
		switch m := le(4); {
		case m == 0xFD2FB528:
			f.part, f.want = partDesc, 1
		case m&^0xF == 0x184D2A50:
			f.part, f.want = partSkipSize, 4
		default:
			f.done = true // not a frame: the decoder says so
		}
	case partDesc:
		f.desc = f.buf[0]
		single := f.desc>>5&1 == 1
		rest := int64([4]int{0, 1, 2, 4}[f.desc&3]) + int64([4]int{0, 2, 4, 8}[f.desc>>6])
		if single && f.desc>>6 == 0 {
			rest++ // a 1-byte content size
		}
		if !single {
			rest++ // the window descriptor
		}
		f.part, f.want = partHeaderRest, rest
		if rest == 0 {
			f.part, f.want = partBlockHeader, 3
		}
	case partHeaderRest:
		f.part, f.want = partBlockHeader, 3
	case partBlockHeader:
		h := le(3)
		f.lastBlk = h&1 == 1
		size := h >> 3
		switch h >> 1 & 3 {
		case 1:
			size = 1 // RLE: one byte, repeated
		case 3:
			f.done = true // reserved: the decoder refuses it
			return
		}
		f.part, f.want = partBlockData, size
		if size == 0 {
			f.blockEnd()
		}
	case partBlockData:
		f.blockEnd()
	case partSkipSize:
		f.part, f.want = partSkipData, le(4)
		f.done = f.want == 0
	case partChecksum, partSkipData:
		f.done = true
	}
}

// blockEnd goes on after a block: to the next one, or to the frame's end.
func (f *frameSource) blockEnd() {
	switch {
	case !f.lastBlk:
		f.part, f.want = partBlockHeader, 3
	case f.desc>>2&1 == 1:
		f.part, f.want = partChecksum, 4
	default:
		f.done = true
	}
}
