package wire

import (
	"fmt"
	"io"
)

// maxControl is the largest payload of any frame type other than DATA.
const maxControl = MaxHello

// Reader decodes a stream of frames. A caller calls Next for each frame and
// then consumes its payload with exactly one of Payload, ReadData or Skip
// (frames without a payload need none). A Reader is not safe for concurrent
// use.
//
// It reads the source through a buffer, so that a small frame, or several,
// costs one read. A large payload is read straight into the caller's
// buffer instead; and while frames are large, the reads that fetch the
// next tag and header fetch little more (leanFill), so that the start of
// each payload is not copied out of the buffer: a copy of up to the
// buffer's size for every frame otherwise.
type Reader struct {
	src     io.Reader
	buf     []byte
	r, w    int // buf[r:w] is read from the source and not yet consumed
	lean    bool
	hdr     [HeaderLen]byte
	ctl     [maxControl]byte
	pending uint32 // payload bytes of the current frame not yet consumed
}

// leanFill is the most a read into the buffer fetches after a large
// payload (lean): the tag and the next header with room to spare.
const leanFill = 4 << 10

// NewReader returns a Reader that reads frames from r through a buffer of
// size bytes (at least 4 KiB).
func NewReader(r io.Reader, size int) *Reader {
	return &Reader{src: r, buf: make([]byte, max(size, 4096))}
}

// Next reads and validates the next frame header. The payload of the
// previous frame must have been consumed.
func (r *Reader) Next() (Header, error) {
	if r.pending != 0 {
		if err := r.Skip(); err != nil {
			return Header{}, err
		}
	}
	if err := r.readFull(r.hdr[:]); err != nil {
		return Header{}, err
	}
	h, err := ParseHeader(r.hdr[:])
	if err != nil {
		return Header{}, err
	}
	r.pending = h.Length
	r.lean = int(h.Length) >= len(r.buf)
	return h, nil
}

// Buffered returns how many bytes of the source are already buffered.
func (r *Reader) Buffered() int { return r.w - r.r }

// Wait waits until the next bytes can be read without blocking, consuming
// none, and returns the source's error if there are none. Wait stopped by a
// timeout leaves the Reader as it was.
func (r *Reader) Wait() error {
	if r.r < r.w {
		return nil
	}
	return r.fill()
}

// fill reads once from the source into the buffer, which must be empty:
// at most leanFill bytes while frames are large.
func (r *Reader) fill() error {
	r.r, r.w = 0, 0
	limit := len(r.buf)
	if r.lean {
		limit = leanFill
	}
	for range 100 {
		n, err := r.src.Read(r.buf[:limit])
		r.w = n
		if n > 0 {
			return nil // an error comes back at the next read
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// readFull fills p from the buffer, then straight from the source if
// what is left is large, else through the buffer. As io.ReadFull, it
// returns io.EOF if the source ended before any byte of p, and
// io.ErrUnexpectedEOF if it ended within p.
func (r *Reader) readFull(p []byte) error {
	n := copy(p, r.buf[r.r:r.w])
	r.r += n
	direct := len(r.buf)
	if r.lean {
		direct = leanFill
	}
	for empty := 0; n < len(p); {
		var err error
		if len(p)-n >= direct {
			var k int
			k, err = r.src.Read(p[n:])
			n += k
			if k > 0 {
				empty = 0
				continue
			}
			if err == nil && empty < 100 {
				empty++
				continue
			}
		} else if err = r.fill(); err == nil {
			k := copy(p[n:], r.buf[r.r:r.w])
			r.r += k
			n += k
			continue
		}
		switch {
		case err == nil:
			return io.ErrNoProgress
		case err == io.EOF && n > 0:
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// Payload reads the whole payload of a control frame into a buffer owned by
// the Reader, valid until the next call. It must not be used for DATA frames.
func (r *Reader) Payload() ([]byte, error) {
	n := r.pending
	if n > maxControl {
		return nil, fmt.Errorf("%w: control payload of %d bytes", ErrTooLarge, n)
	}
	r.pending = 0
	b := r.ctl[:n]
	if err := r.readFull(b); err != nil {
		return nil, unexpected(err)
	}
	return b, nil
}

// ReadData reads the next len(p) payload bytes of the current frame into p.
// It may be called several times for one frame, for example to fill the two
// halves of a ring buffer.
func (r *Reader) ReadData(p []byte) error {
	if uint64(len(p)) > uint64(r.pending) {
		return fmt.Errorf("%w: reading %d bytes of a payload with %d left", ErrMalformed, len(p), r.pending)
	}
	r.pending -= uint32(len(p))
	return unexpected(r.readFull(p))
}

// Skip discards what is left of the current frame's payload.
func (r *Reader) Skip() error {
	n := int(r.pending)
	r.pending = 0
	for n > 0 {
		if r.r == r.w {
			if err := r.fill(); err != nil {
				return unexpected(err)
			}
		}
		k := min(n, r.w-r.r)
		r.r += k
		n -= k
	}
	return nil
}

// unexpected turns a clean EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadTrailer reads len(p) bytes that follow the current frame's payload
// (an integrity tag), which must have been consumed.
func (r *Reader) ReadTrailer(p []byte) error {
	if r.pending != 0 {
		return fmt.Errorf("%w: trailer read before the payload", ErrMalformed)
	}
	return unexpected(r.readFull(p))
}
