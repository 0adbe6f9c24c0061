package wire

import (
	"bytes"
	"io"
	"testing"
)

func BenchmarkHeaderPut(b *testing.B) {
	var buf [HeaderLen]byte
	h := Header{Type: TypeData, Channel: 1, Length: 256 << 10, Arg: 1 << 40}
	b.ReportAllocs()
	for b.Loop() {
		h.Arg++
		h.Put(buf[:])
	}
}

func BenchmarkParseHeader(b *testing.B) {
	var buf [HeaderLen]byte
	Header{Type: TypeData, Channel: 1, Length: 256 << 10, Arg: 1 << 40}.Put(buf[:])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHeader(buf[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderData decodes a stream of 256 KiB DATA frames into a
// reused buffer, as a session's read loop does: no allocation per frame.
func BenchmarkReaderData(b *testing.B) {
	const size = 256 << 10
	var stream bytes.Buffer
	for i := range 64 {
		var h [HeaderLen]byte
		Header{Type: TypeData, Length: size, Arg: uint64(i) * size}.Put(h[:])
		stream.Write(h[:])
		stream.Write(make([]byte, size))
	}
	src := bytes.NewReader(stream.Bytes())
	r := NewReader(src, 64<<10)
	dst := make([]byte, size)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		h, err := r.Next()
		if err == io.EOF {
			src.Seek(0, io.SeekStart)
			r = NewReader(src, 64<<10)
			h, err = r.Next()
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := r.ReadData(dst[:h.Length]); err != nil {
			b.Fatal(err)
		}
	}
}
