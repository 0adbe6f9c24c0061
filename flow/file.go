package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// FileChunker cuts a file read in place (io.ReaderAt, usually an *os.File
// of a regular file) into chunks that name a section of it instead of
// holding its bytes: Chunk.Data is nil, Chunk.Src and Chunk.SrcOffset say
// where the records are. To find a boundary it reads a few kilobytes around
// the block's end (with Records, it reads every byte, once); the records
// themselves are left for the consumer to copy from the file, which on
// Linux needs no pass through user memory (splice, sendfile).
//
// The chunks are those a Chunker would make of the same bytes.
type FileChunker struct {
	f    io.ReaderAt
	base int64 // offset in f of the input's first byte
	size int64 // length of the input
	cfg  Config

	pos    int64 // next chunk's start, relative to base
	seq    int64
	header []byte
	hdr    bool
	sent   bool
	win    []byte // cached bytes of the input from winOff
	winOff int64
}

// NewFileChunker returns a FileChunker for the size bytes of f starting
// at base.
func NewFileChunker(f io.ReaderAt, base, size int64, cfg Config) (*FileChunker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if base < 0 || size < 0 {
		return nil, fmt.Errorf("%w: file section at %d of %d bytes", ErrConfig, base, size)
	}
	return &FileChunker{f: f, base: base, size: size, cfg: cfg}, nil
}

const (
	minWindow = 4 << 10
	maxWindow = 256 << 10
)

// minWindow is the first window of a search: more than twice the
// separator, so that windows overlapping by its width always progress.
func (c *FileChunker) minWindow() int64 {
	w := int64(minWindow)
	if x := 4 * int64(c.cfg.Split.Width()); x > w {
		w = x
	}
	return w
}

// read returns the bytes [from, to) of the input, clamped to its end, from
// a buffer that the next call may overwrite. It reads at least 64 KiB at a
// time and serves what it already holds.
func (c *FileChunker) read(from, to int64) ([]byte, error) {
	if to > c.size {
		to = c.size
	}
	if from >= c.winOff && to <= c.winOff+int64(len(c.win)) {
		return c.win[from-c.winOff : to-c.winOff], nil
	}
	n := to - from
	if n < 64<<10 {
		n = 64 << 10
	}
	if from+n > c.size {
		n = c.size - from
	}
	if int64(cap(c.win)) < n {
		c.win = make([]byte, n)
	}
	c.win, c.winOff = c.win[:n], from
	m, err := c.f.ReadAt(c.win, c.base+from)
	if int64(m) == n {
		return c.win[:to-from], nil
	}
	c.win = c.win[:0]
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the file shrank
	}
	return nil, fmt.Errorf("farpipe: reading the input at offset %d: %w", from, err)
}

// Next implements Source.
func (c *FileChunker) Next(ctx context.Context) (*Chunk, error) {
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if !c.hdr {
		end, err := c.scanRecords(ctx, 0, c.cfg.Header)
		if err != nil {
			return nil, err
		}
		if end > 0 {
			if c.header, err = c.read(0, end); err != nil {
				return nil, err
			}
			c.header = append([]byte(nil), c.header...)
		}
		c.pos, c.hdr = end, true
	}
	var (
		end int64
		err error
	)
	if c.cfg.Records > 0 {
		end, err = c.scanRecords(ctx, c.pos, c.cfg.Records)
	} else {
		end, err = c.cutBlock(ctx, c.pos)
	}
	if err != nil {
		return nil, err
	}
	if end == c.pos && (c.sent || len(c.header) == 0) {
		return nil, io.EOF
	}
	ch := &Chunk{Seq: c.seq, Offset: c.pos, Size: end - c.pos, Header: c.header,
		Src: c.f, SrcOffset: c.base + c.pos, split: c.cfg.Split}
	if ch.Size == 0 {
		ch.Data = []byte{}
	}
	c.pos = end
	c.seq++
	c.sent = true
	return ch, nil
}

// scanRecords returns the end of n records starting at from, reading
// forward window by window.
func (c *FileChunker) scanRecords(ctx context.Context, from int64, n int) (int64, error) {
	pos := from
	for i := 0; i < n; {
		if pos >= c.size {
			return c.size, nil
		}
		b, err := c.nextBoundary(ctx, from, pos)
		if err != nil {
			return 0, err
		}
		pos, i = b, i+1
	}
	return pos, nil
}

// nextBoundary returns the first boundary after pos of the chunk that
// starts at start, or the end of the input.
func (c *FileChunker) nextBoundary(ctx context.Context, start, pos int64) (int64, error) {
	width := int64(c.cfg.Split.Width())
	window := c.minWindow()
	for {
		if err := context.Cause(ctx); err != nil {
			return 0, err
		}
		ws := pos - width
		if ws < start {
			ws = start
		}
		w, err := c.read(ws, ws+window+width)
		if err != nil {
			return 0, err
		}
		if b := c.cfg.Split.Next(w, int(pos-ws)); b > 0 {
			return ws + int64(b), nil
		}
		we := ws + int64(len(w))
		if we >= c.size {
			return c.size, nil
		}
		if p := we - width; p > pos {
			pos = p
		}
		if window < maxWindow {
			window *= 2
		}
	}
}

// cutBlock returns the end of the chunk that starts at start: the last
// boundary within a block, or the first after it.
func (c *FileChunker) cutBlock(ctx context.Context, start int64) (int64, error) {
	limit := start + int64(c.cfg.Block)
	if limit >= c.size {
		return c.size, nil
	}
	width := int64(c.cfg.Split.Width())
	window := c.minWindow()
	for hi := limit; ; {
		if err := context.Cause(ctx); err != nil {
			return 0, err
		}
		ws := hi - window
		if ws < start {
			ws = start
		}
		w, err := c.read(ws, hi+width)
		if err != nil {
			return 0, err
		}
		if b := c.cfg.Split.Last(w, int(hi-ws)); b > 0 {
			return ws + int64(b), nil
		}
		if ws == start {
			break
		}
		// A boundary whose separator straddles ws is in the next window.
		hi = ws + width
		if window < maxWindow {
			window *= 2
		}
	}
	return c.nextBoundary(ctx, start, limit)
}
