package broker

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The records of a message. A message holds whole records, or one piece of
// a record too long for one message:
//
//	version  1 byte, packVersion
//	flags    1 byte: flagCont (the piece continues a record begun in the
//	         publisher's earlier messages), flagMore (the record goes on in
//	         its next messages); other bits are zero
//	rec      uvarint: the publisher's index of the first record (from 0)
//	off      uvarint: the piece's offset in its record; 0 unless flagCont
//	records  each a uvarint length (at least 1) and that many bytes, up to
//	         the end of the message; exactly one with flagCont or flagMore
//
// A record holds its separator (the last one of an input may lack it), so
// writing the records one after the other gives the input back.
const (
	packVersion = 1
	flagCont    = 1 << 0
	flagMore    = 1 << 1
)

// MaxHeader is the largest header Pack writes before the records.
const MaxHeader = 2 + 2*binary.MaxVarintLen64

// Header describes a message's records.
type Header struct {
	Rec  uint64 // the publisher's index of the message's first record
	Off  uint64 // the piece's offset within its record (with Cont)
	Cont bool   // the message is a piece that continues a record
	More bool   // the message's record goes on in the next message
}

// AppendHeader appends h to b, the start of a message.
func AppendHeader(b []byte, h Header) []byte {
	var flags byte
	if h.Cont {
		flags |= flagCont
	}
	if h.More {
		flags |= flagMore
	}
	b = append(b, packVersion, flags)
	b = binary.AppendUvarint(b, h.Rec)
	return binary.AppendUvarint(b, h.Off)
}

// AppendRecord appends one record (not empty) to a message.
func AppendRecord(b, rec []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(rec)))
	return append(b, rec...)
}

// RecordSize is how many bytes AppendRecord adds for a record of n bytes.
func RecordSize(n int) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], uint64(n)) + n
}

// Unpack parses a message: its header, and its records appended to recs
// (slices of data). It never panics: data comes from the network.
func Unpack(data []byte, recs [][]byte) (Header, [][]byte, error) {
	var h Header
	if len(data) < 2 {
		return h, recs, malformed("%d bytes, shorter than a header", len(data))
	}
	if data[0] != packVersion {
		return h, recs, malformed("version %d (this farpipe reads version %d)", data[0], packVersion)
	}
	flags := data[1]
	if flags&^(flagCont|flagMore) != 0 {
		return h, recs, malformed("unknown flags %#x", flags)
	}
	h.Cont, h.More = flags&flagCont != 0, flags&flagMore != 0
	p := data[2:]
	var n int
	if h.Rec, n = binary.Uvarint(p); n <= 0 {
		return h, recs, malformed("bad record index")
	}
	p = p[n:]
	if h.Off, n = binary.Uvarint(p); n <= 0 {
		return h, recs, malformed("bad record offset")
	}
	p = p[n:]
	if !h.Cont && h.Off != 0 {
		return h, recs, malformed("an offset %d without a continued record", h.Off)
	}
	if h.Cont && h.Off == 0 {
		return h, recs, malformed("a continued record at offset 0")
	}
	start := len(recs)
	for len(p) > 0 {
		l, n := binary.Uvarint(p)
		if n <= 0 || l == 0 || l > uint64(len(p)-n) {
			return h, recs[:start], malformed("bad record length")
		}
		recs = append(recs, p[n:n+int(l)])
		p = p[n+int(l):]
	}
	count := len(recs) - start
	switch {
	case count == 0:
		return h, recs, malformed("no record")
	case (h.Cont || h.More) && count != 1:
		return h, recs[:start], malformed("%d records with a piece of a record", count)
	case h.Rec > math.MaxUint64-uint64(count) || h.Off > math.MaxInt64:
		return h, recs[:start], malformed("record index or offset out of range")
	}
	return h, recs, nil
}

// Stored is how far a publisher got, from its last message in a stream:
// Records whole records (indexes 0 to Records-1), and Partial bytes of the
// next one.
func Stored(last []byte) (records, partial uint64, err error) {
	if last == nil {
		return 0, 0, nil
	}
	h, recs, err := Unpack(last, nil)
	if err != nil {
		return 0, 0, err
	}
	if h.More {
		return h.Rec, h.Off + uint64(len(recs[0])), nil
	}
	return h.Rec + uint64(len(recs)), 0, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
