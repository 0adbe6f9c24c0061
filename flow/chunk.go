package flow

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// DefaultBlock is the chunk size when Config.Block is 0.
const DefaultBlock = 1 << 20

// Config says how to cut an input into chunks. The zero value cuts lines
// into chunks of about 1 MiB.
type Config struct {
	// Split finds record boundaries; nil means Lines().
	Split Splitter
	// Block is the target size of a chunk in bytes (0: DefaultBlock). A
	// chunk ends at the last record boundary within Block bytes, or, when
	// one record is longer, at the end of that record: records are never
	// split. With Bytes, chunks are exactly Block bytes.
	Block int
	// Records, when > 0, makes every chunk exactly that many records (the
	// last one may have fewer); Block is then only the read size.
	Records int
	// Header is the number of records at the start of the input that make
	// its header: they are taken out of the stream and given with every
	// chunk (Chunk.Header), as for CSV files.
	Header int
	// MaxChunk, when > 0, bounds the memory one chunk of a stream may take:
	// a longer record fails with ErrChunkTooBig. 0: no limit.
	MaxChunk int
}

func (c Config) withDefaults() (Config, error) {
	if c.Split == nil {
		c.Split = Lines()
	}
	if s, ok := c.Split.(Separator); ok {
		if err := s.validate(); err != nil {
			return c, err
		}
	}
	if c.Block == 0 {
		c.Block = DefaultBlock
	}
	if c.Block < 0 || c.Records < 0 || c.Header < 0 || c.MaxChunk < 0 {
		return c, fmt.Errorf("%w: block %d, records %d, header %d and max chunk %d must not be negative", ErrConfig, c.Block, c.Records, c.Header, c.MaxChunk)
	}
	if c.MaxChunk > 0 && c.MaxChunk < c.Block {
		return c, fmt.Errorf("%w: the chunk limit %d is below the block size %d", ErrConfig, c.MaxChunk, c.Block)
	}
	return c, nil
}

// A Chunk is whole records of the input, plus the input's header when
// Config.Header asks for one. Its bytes are Header followed by either Data
// or, when Data is nil and Size > 0, the section [SrcOffset,
// SrcOffset+Size) of Src (a regular file read in place, see FileChunker).
type Chunk struct {
	Seq       int64       // number of the chunk in the input, from 0
	Offset    int64       // offset of its first record byte in the input
	Size      int64       // length of its records (without Header)
	Header    []byte      // the input's header records, or nil
	Data      []byte      // the records, when held in memory
	Src       io.ReaderAt // where the records are when Data is nil
	SrcOffset int64       // their offset in Src

	split   Splitter
	mem     []byte // the buffer Data lies in, given back by Release
	release func([]byte)
}

// Reader returns the chunk's bytes: the header, then the records.
func (c *Chunk) Reader() io.Reader {
	var body io.Reader
	if c.Data != nil || c.Src == nil {
		body = bytes.NewReader(c.Data)
	} else {
		body = io.NewSectionReader(c.Src, c.SrcOffset, c.Size)
	}
	if len(c.Header) == 0 {
		return body
	}
	return io.MultiReader(bytes.NewReader(c.Header), body)
}

// WriteTo writes the header and the records to w.
func (c *Chunk) WriteTo(w io.Writer) (int64, error) {
	if c.Data != nil || c.Src == nil {
		n, err := w.Write(c.Header)
		if err != nil {
			return int64(n), err
		}
		m, err := w.Write(c.Data)
		return int64(n + m), err
	}
	return io.Copy(w, c.Reader())
}

// FirstRecord returns the chunk's first record (without header), at most
// max bytes of it, for messages.
func (c *Chunk) FirstRecord(max int) []byte {
	b := c.Data
	if b == nil && c.Src != nil {
		n := int64(max) + 64
		if n > c.Size {
			n = c.Size
		}
		b = make([]byte, n)
		m, _ := c.Src.ReadAt(b, c.SrcOffset)
		b = b[:m]
	}
	if c.split != nil {
		if e := c.split.Next(b, 0); e > 0 {
			b = b[:e]
		}
	}
	if len(b) > max {
		b = b[:max]
	}
	return b
}

// Release gives the chunk's memory back for reuse. The chunk must not be
// used afterwards. Calling it is optional, and more than once is harmless.
func (c *Chunk) Release() {
	if c.release != nil && c.mem != nil {
		c.release(c.mem)
	}
	c.release, c.mem, c.Data = nil, nil, nil
}

// A Source gives chunks in input order; Next returns io.EOF after the last.
// Chunker and FileChunker are Sources.
type Source interface {
	Next(ctx context.Context) (*Chunk, error)
}
