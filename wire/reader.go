package wire

import (
	"bufio"
	"fmt"
	"io"
)

// maxControl is the largest payload of any frame type other than DATA.
const maxControl = MaxHello

// Reader decodes a stream of frames. A caller calls Next for each frame and
// then consumes its payload with exactly one of Payload, ReadData or Skip
// (frames without a payload need none). A Reader is not safe for concurrent
// use.
type Reader struct {
	br      *bufio.Reader
	hdr     [HeaderLen]byte
	ctl     [maxControl]byte
	pending uint32 // payload bytes of the current frame not yet consumed
}

// NewReader returns a Reader that reads frames from r through a buffer of
// size bytes (at least 4 KiB).
func NewReader(r io.Reader, size int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, max(size, 4096))}
}

// Next reads and validates the next frame header. The payload of the
// previous frame must have been consumed.
func (r *Reader) Next() (Header, error) {
	if r.pending != 0 {
		if err := r.Skip(); err != nil {
			return Header{}, err
		}
	}
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return Header{}, err
	}
	h, err := ParseHeader(r.hdr[:])
	if err != nil {
		return Header{}, err
	}
	r.pending = h.Length
	return h, nil
}

// Buffered returns how many bytes of the source are already buffered.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Wait waits until the next bytes can be read without blocking, consuming
// none, and returns the source's error if there are none. Wait stopped by a
// timeout leaves the Reader as it was.
func (r *Reader) Wait() error {
	_, err := r.br.Peek(1)
	return err
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
	if _, err := io.ReadFull(r.br, b); err != nil {
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
	_, err := io.ReadFull(r.br, p)
	return unexpected(err)
}

// Skip discards what is left of the current frame's payload.
func (r *Reader) Skip() error {
	n := r.pending
	r.pending = 0
	_, err := r.br.Discard(int(n))
	return unexpected(err)
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
	_, err := io.ReadFull(r.br, p)
	return unexpected(err)
}
