package flow

import (
	"bytes"
	"testing"
)

// FuzzSplitRoundTrip checks, for every splitter and block sizes down to one
// byte, that the header and the chunks concatenated give back the input,
// that the Chunker and the FileChunker cut at the same places, and that
// SplitFunc's records concatenated give back the input.
func FuzzSplitRoundTrip(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), uint8(0), uint16(1), uint8(0), uint8(0), "")
	f.Add([]byte(">x\n>y\n>z"), uint8(4), uint16(3), uint8(0), uint8(1), ">")
	f.Add([]byte("aaaaaaa"), uint8(2), uint16(2), uint8(2), uint8(0), "aa")
	f.Add([]byte("a\x00b\x00"), uint8(1), uint16(1), uint8(1), uint8(1), "")
	f.Add([]byte("0123456789"), uint8(5), uint16(3), uint8(0), uint8(0), "")
	f.Add([]byte("h\nx;y;z;"), uint8(2), uint16(2), uint8(0), uint8(1), ";")
	f.Fuzz(func(t *testing.T, in []byte, kind uint8, block uint16, records, header uint8, sep string) {
		if sep == "" {
			sep = "\n"
		}
		if len(sep) > 8 {
			sep = sep[:8]
		}
		var s Splitter
		switch kind % 6 {
		case 0:
			s = Lines()
		case 1:
			s = Null()
		case 2:
			s = RecEnd(sep)
		case 3:
			s = RecStart(sep)
		case 4:
			s = Separator{End: sep, Start: sep[:1]}
		default:
			s = Bytes{}
		}
		cfg := Config{Split: s, Block: int(block%4096) + 1, Records: int(records % 4), Header: int(header % 3)}
		ck, err := NewChunker(bytes.NewReader(in), cfg)
		if err != nil {
			t.Fatal(err)
		}
		chunks := collect(t, ck)
		if got := joined(t, chunks); !bytes.Equal(got, in) {
			t.Fatalf("%+v: chunks joined give %q, want %q", cfg, got, in)
		}
		fc, err := NewFileChunker(bytes.NewReader(in), 0, int64(len(in)), cfg)
		if err != nil {
			t.Fatal(err)
		}
		fchunks := collect(t, fc)
		if len(fchunks) != len(chunks) {
			t.Fatalf("%+v: FileChunker made %d chunks, Chunker %d", cfg, len(fchunks), len(chunks))
		}
		for i := range chunks {
			if fchunks[i].Offset != chunks[i].Offset || fchunks[i].Size != chunks[i].Size {
				t.Fatalf("%+v: chunk %d: FileChunker [%d+%d], Chunker [%d+%d]", cfg, i,
					fchunks[i].Offset, fchunks[i].Size, chunks[i].Offset, chunks[i].Size)
			}
		}
		var rec bytes.Buffer
		for b := in; len(b) > 0; {
			n := s.Next(b, 0)
			if n <= 0 {
				n = len(b)
			}
			rec.Write(b[:n])
			b = b[n:]
		}
		if !bytes.Equal(rec.Bytes(), in) {
			t.Fatalf("records joined differ")
		}
	})
}
