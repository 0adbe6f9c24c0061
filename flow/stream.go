package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Chunker cuts a stream into chunks held in memory. It reads ahead at most
// about one block (plus the longest record); the chunks it returned hold
// their own memory until released, so the caller bounds the total by how
// many chunks it keeps (Map keeps at most its number of jobs).
//
// A Chunker is not safe for concurrent use; Chunk.Release is.
type Chunker struct {
	r   io.Reader
	cfg Config

	buf    []byte // buf[start:] is read but not yet cut; it starts on a boundary
	off    int64  // input offset of buf[start]
	seq    int64
	eof    bool
	err    error // the first read error, returned after the data before it
	hdr    bool  // the header was read
	header []byte
	sent   bool // a chunk was returned

	start int
	pool  sync.Pool // *[]byte of cap bufSize
}

// NewChunker returns a Chunker reading r.
func NewChunker(r io.Reader, cfg Config) (*Chunker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Chunker{r: r, cfg: cfg}, nil
}

func (c *Chunker) bufSize() int { return c.cfg.Block + c.cfg.Block/4 + c.cfg.Split.Width() + 4096 }

func (c *Chunker) getBuf(n int) []byte {
	if n <= c.bufSize() {
		if p, ok := c.pool.Get().(*[]byte); ok {
			return (*p)[:0]
		}
		n = c.bufSize()
	}
	return make([]byte, 0, n)
}

func (c *Chunker) putBuf(b []byte) {
	if cap(b) == c.bufSize() {
		b = b[:0]
		c.pool.Put(&b)
	}
}

// data is what is read and not yet cut.
func (c *Chunker) data() []byte { return c.buf[c.start:] }

// fill reads until at least n bytes are buffered past start, or the end of
// the input, or a read error (kept for later).
func (c *Chunker) fill(ctx context.Context, n int) error {
	for len(c.buf)-c.start < n && !c.eof {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		if max := c.cfg.MaxChunk; max > 0 && len(c.buf)-c.start >= max+c.cfg.Split.Width() {
			return fmt.Errorf("%w: more than %d bytes without a record boundary at offset %d", ErrChunkTooBig, max, c.off)
		}
		if cap(c.buf)-len(c.buf) < 4096 || cap(c.buf) < c.start+n {
			c.grow(n)
		}
		m, err := c.r.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+m]
		if err != nil {
			c.eof = true
			if !errors.Is(err, io.EOF) {
				c.err = err
			}
		}
	}
	return nil
}

// grow makes room for n bytes past start, moving the unread bytes to the
// front of a buffer.
func (c *Chunker) grow(n int) {
	d := c.data()
	size := cap(c.buf)
	if size < c.bufSize() {
		size = c.bufSize()
	}
	for size < n || size-len(d) < 4096 {
		size *= 2
	}
	if size == cap(c.buf) {
		// Compact in place.
		c.buf = c.buf[:copy(c.buf[:len(d)], d)]
		c.start = 0
		return
	}
	nb := c.getBuf(size)[:len(d)]
	copy(nb, d)
	c.putBuf(c.buf)
	c.buf, c.start = nb, 0
}

// Next returns the next chunk, or io.EOF after the last one, or the read
// error that stopped the input (after the chunks before it). ctx is looked
// at between reads: a blocked Read of the underlying reader is not
// interrupted.
func (c *Chunker) Next(ctx context.Context) (*Chunk, error) {
	if c.buf == nil {
		c.buf = c.getBuf(c.bufSize())
	}
	if !c.hdr {
		if err := c.readHeader(ctx); err != nil {
			return nil, err
		}
	}
	cut, err := c.cut(ctx)
	if err != nil {
		return nil, err
	}
	if cut == 0 {
		if c.err != nil {
			return nil, fmt.Errorf("farpipe: reading the input at offset %d: %w", c.off, c.err)
		}
		if c.sent || c.cfg.Header == 0 || len(c.header) == 0 {
			return nil, io.EOF
		}
	}
	ch := &Chunk{Seq: c.seq, Offset: c.off, Size: int64(cut), Header: c.header, split: c.cfg.Split}
	d := c.data()
	if cut > 0 && cut*2 >= len(d) {
		// The chunk takes the buffer; the rest moves to a new one.
		ch.Data, ch.mem, ch.release = d[:cut:cut], c.buf, c.putBuf
		nb := append(c.getBuf(c.bufSize()), d[cut:]...)
		c.buf, c.start = nb, 0
	} else {
		ch.Data = append(make([]byte, 0, cut), d[:cut]...)
		c.start += cut
	}
	c.off += int64(cut)
	c.seq++
	c.sent = true
	return ch, nil
}

// readHeader takes the first Header records out of the stream.
func (c *Chunker) readHeader(ctx context.Context) error {
	end, err := c.scanRecords(ctx, c.cfg.Header)
	if err != nil {
		return err
	}
	if end > 0 {
		c.header = append([]byte(nil), c.data()[:end]...)
		c.start += end
		c.off += int64(end)
	}
	c.hdr = true
	return nil
}

// scanRecords returns the end of the first n records of the buffered
// data, reading as needed.
func (c *Chunker) scanRecords(ctx context.Context, n int) (int, error) {
	pos := 0
	for i := 0; i < n; {
		b := c.cfg.Split.Next(c.data(), pos)
		if b > 0 {
			pos, i = b, i+1
			continue
		}
		if c.eof {
			return len(c.data()), nil
		}
		if err := c.fill(ctx, len(c.data())+c.cfg.Block); err != nil {
			return 0, err
		}
	}
	return pos, nil
}

// cut finds the end of the next chunk in the buffered data, reading as
// needed; 0 means the input is over.
func (c *Chunker) cut(ctx context.Context) (int, error) {
	if c.cfg.Records > 0 {
		return c.scanRecords(ctx, c.cfg.Records)
	}
	block, width := c.cfg.Block, c.cfg.Split.Width()
	if err := c.fill(ctx, block+width); err != nil {
		return 0, err
	}
	d := c.data()
	if c.eof && len(d) <= block {
		return len(d), nil
	}
	if b := c.cfg.Split.Last(d, block); b > 0 {
		return b, nil
	}
	// One record is longer than the block: the chunk ends with it.
	from := block
	for {
		d = c.data()
		if b := c.cfg.Split.Next(d, from); b > 0 {
			return b, nil
		}
		if c.eof {
			return len(d), nil
		}
		if f := len(d) - width; f > from {
			from = f
		}
		if err := c.fill(ctx, 2*len(d)); err != nil {
			return 0, err
		}
	}
}
