package fan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/farpipe/farpipe/flow"
)

// Splitter finds record boundaries: flow's, so that merge cuts records
// exactly as map does.
type Splitter = flow.Splitter

// ErrRecordTooBig: a record is longer than InOptions.MaxRecord.
var ErrRecordTooBig = errors.New("farpipe: a record is longer than the limit: check the record separator")

// OutputError is an error of the writer of an In: every reader's copy
// fails with it.
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return "farpipe: writing the output: " + e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

// InOptions tune an In's Copy. Split is required.
type InOptions struct {
	// Split finds record boundaries.
	Split Splitter
	// Prefix is written before each record (farpipe merge --label).
	Prefix []byte
	// Term is written after a last record that lacks its record end, so
	// that it does not run into another reader's next record.
	Term []byte
	// BufSize is the read buffer's size. Default 256 KiB.
	BufSize int
	// MaxRecord bounds the buffer, which grows to hold a longer record.
	// Default 64 MiB.
	MaxRecord int
}

// In writes whole records from several readers to one writer. Its methods
// are safe for concurrent use; Copy is meant to run once per reader, each
// in its own goroutine.
type In struct {
	mu  sync.Mutex // held while records are written; a leaf
	w   io.Writer
	err error // the first write error: every later write fails with it
}

// NewIn returns an In writing to w.
func NewIn(w io.Writer) *In { return &In{w: w} }

// Copy reads r until io.EOF and writes its records to the In's writer, as
// they arrive, whole and never interleaved with another reader's. After
// io.EOF, a last record without its record end is written followed by
// o.Term. It returns the bytes read and nil at the end of r, r's error (the
// partial record at the end is then dropped), an *OutputError, or
// ErrRecordTooBig. ctx's end is checked between reads.
func (in *In) Copy(ctx context.Context, r io.Reader, o InOptions) (int64, error) {
	if o.BufSize <= 0 {
		o.BufSize = 256 << 10
	}
	if o.MaxRecord <= 0 {
		o.MaxRecord = 64 << 20
	}
	buf := make([]byte, o.BufSize)
	var scratch []byte // records with their prefix
	n, scanned := 0, 0 // bytes held; bytes known to hold no boundary
	var total int64
	for {
		if err := context.Cause(ctx); err != nil {
			return total, err
		}
		if n == len(buf) {
			if len(buf) >= o.MaxRecord {
				return total, fmt.Errorf("%w (%d bytes)", ErrRecordTooBig, o.MaxRecord)
			}
			buf = append(buf, make([]byte, min(len(buf), o.MaxRecord-len(buf)))...)
		}
		k, rerr := r.Read(buf[n:])
		n += k
		total += int64(k)
		if k > 0 {
			// Only the bytes just read (and the separator's width before
			// them) can hold a new boundary.
			lo := max(0, scanned-o.Split.Width())
			if b := o.Split.Last(buf[lo:n], n-lo); b > 0 {
				if err := in.write(buf[:lo+b], o, &scratch); err != nil {
					return total, err
				}
				n = copy(buf, buf[lo+b:n])
			}
			scanned = n
		}
		if rerr == io.EOF {
			if n > 0 {
				buf = append(buf[:n], o.Term...)
				if err := in.write(buf, o, &scratch); err != nil {
					return total, err
				}
			}
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// write writes recs, whole records, with o.Prefix before each one.
func (in *In) write(recs []byte, o InOptions, scratch *[]byte) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err != nil {
		return in.err
	}
	if len(o.Prefix) == 0 {
		return in.put(recs)
	}
	const flushAt = 256 << 10
	s := (*scratch)[:0]
	for pos := 0; pos < len(recs); {
		end := o.Split.Next(recs, pos)
		if end < 0 {
			end = len(recs)
		}
		s = append(append(s, o.Prefix...), recs[pos:end]...)
		pos = end
		if len(s) >= flushAt {
			if err := in.put(s); err != nil {
				return err
			}
			s = s[:0]
		}
	}
	*scratch = s[:0]
	if len(s) == 0 {
		return nil
	}
	return in.put(s)
}

// put writes p; the first error sticks. in.mu is held.
func (in *In) put(p []byte) error {
	if _, err := in.w.Write(p); err != nil {
		in.err = &OutputError{Err: err}
		return in.err
	}
	return nil
}
