package flow

import (
	"bufio"
	"bytes"
	"fmt"
)

// A Splitter finds record boundaries. A boundary is an offset b in a buffer
// that starts on a record boundary: buf[:b] is whole records. Offset 0 is
// never returned (a record is never empty of its separator), and the end of
// the input is always a boundary; a Splitter need not know about it.
//
// A Splitter must be deterministic and safe for concurrent use.
type Splitter interface {
	// Last returns the largest boundary b with 0 < b <= limit, or -1 when
	// there is none. buf[limit:] may be looked at to confirm a boundary (a
	// record start that must be seen whole); limit <= len(buf).
	Last(buf []byte, limit int) int
	// Next returns the smallest boundary b with from < b <= len(buf) that
	// buf confirms, or -1.
	Next(buf []byte, from int) int
	// Width is how many bytes around a boundary mark it (the record end
	// plus the record start): windows over the input overlap by this much,
	// and a boundary must be recognizable from them alone, so that Last and
	// Next give the same answers on any window of a chunk.
	Width() int
}

// Separator splits at a literal record end, a literal record start, or both
// (a boundary then lies between End and Start where End is immediately
// followed by Start, like GNU parallel's --recend with --recstart). At least
// one of the two is not empty.
//
// When the separator can overlap itself ("aa" in "aaa"), which occurrence
// makes the boundary is not specified; splitting then concatenating still
// gives back the input.
type Separator struct {
	End   string // bytes that end a record: "\n" for lines
	Start string // bytes that start a record
}

// Lines splits after every newline: the default.
func Lines() Separator { return Separator{End: "\n"} }

// Null splits after every NUL byte (find -print0, xargs -0).
func Null() Separator { return Separator{End: "\x00"} }

// RecEnd splits after every occurrence of end.
func RecEnd(end string) Separator { return Separator{End: end} }

// RecStart splits before every occurrence of start (but at the very
// beginning of the input).
func RecStart(start string) Separator { return Separator{Start: start} }

func (s Separator) validate() error {
	if s.End == "" && s.Start == "" {
		return fmt.Errorf("%w: the record separator is empty: give a record end or a record start", ErrConfig)
	}
	return nil
}

// Last implements Splitter.
func (s Separator) Last(buf []byte, limit int) int {
	k, n := len(s.End), len(s.End)+len(s.Start)
	hi := limit - k + n // matches must start at i <= limit-k
	if hi > len(buf) {
		hi = len(buf)
	}
	if hi < n {
		return -1
	}
	var i int
	if s.Start == "" {
		i = lastIndex(buf[:hi], s.End)
	} else {
		i = bytes.LastIndex(buf[:hi], []byte(s.End+s.Start))
	}
	if i < 0 || i+k <= 0 {
		return -1
	}
	return i + k
}

// Next implements Splitter.
func (s Separator) Next(buf []byte, from int) int {
	k := len(s.End)
	lo := from + 1 - k
	if lo < 0 {
		lo = 0
	}
	if lo >= len(buf) {
		return -1
	}
	var i int
	if len(s.End) == 1 && s.Start == "" {
		i = bytes.IndexByte(buf[lo:], s.End[0])
	} else {
		i = bytes.Index(buf[lo:], []byte(s.End+s.Start))
	}
	if i < 0 {
		return -1
	}
	return lo + i + k
}

// Width implements Splitter.
func (s Separator) Width() int { return len(s.End) + len(s.Start) }

func lastIndex(b []byte, sep string) int {
	if len(sep) == 1 {
		return bytes.LastIndexByte(b, sep[0])
	}
	return bytes.LastIndex(b, []byte(sep))
}

// Bytes is the Splitter of data without records: every offset is a
// boundary, so chunks are exactly the block size (the last one may be
// shorter).
type Bytes struct{}

// Last implements Splitter.
func (Bytes) Last(_ []byte, limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

// Next implements Splitter.
func (Bytes) Next(buf []byte, from int) int {
	if from+1 > len(buf) {
		return -1
	}
	return from + 1
}

// Width implements Splitter.
func (Bytes) Width() int { return 0 }

// SplitFunc adapts s to a bufio.Scanner that yields one record per token,
// separator included, so that the tokens concatenated give back the input.
// The last record may lack its separator.
func SplitFunc(s Splitter) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if len(data) == 0 {
			return 0, nil, nil
		}
		if b := s.Next(data, 0); b > 0 {
			return b, data[:b], nil
		}
		if atEOF {
			return len(data), data, nil
		}
		return 0, nil, nil
	}
}
