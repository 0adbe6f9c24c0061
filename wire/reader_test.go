package wire

import (
	"bytes"
	"io"
	"testing"
)

// sizedReader serves a byte stream and records how much each Read asks for.
type sizedReader struct {
	r     io.Reader
	asked []int
}

func (s *sizedReader) Read(p []byte) (int, error) {
	s.asked = append(s.asked, len(p))
	return s.r.Read(p)
}

// TestReaderLean: after a large payload, the reads that fetch the next tag
// and header ask the source for at most leanFill bytes, so that little of
// the next payload is copied out of the buffer; small frames are read
// through the whole buffer, several per read; every byte arrives in order.
func TestReaderLean(t *testing.T) {
	const buf = 64 << 10
	type frame struct {
		h       Header
		payload []byte
	}
	data := func(n int, seed byte) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = seed + byte(i*7)
		}
		return p
	}
	for _, tt := range []struct {
		name     string
		frames   []frame
		maxFill  int // the most any read through the buffer after the first may ask for
		maxReads int // 0: no bound
	}{
		{"large frames", []frame{
			{Header{Type: TypeData, Length: 256 << 10}, data(256<<10, 1)},
			{Header{Type: TypeData, Length: 256 << 10, Arg: 256 << 10}, data(256<<10, 2)},
			{Header{Type: TypeData, Length: 200 << 10, Arg: 512 << 10}, data(200<<10, 3)},
		}, leanFill, 0},
		{"small frames", []frame{
			{Header{Type: TypeData, Length: 100}, data(100, 4)},
			{Header{Type: TypeData, Length: 1000, Arg: 100}, data(1000, 5)},
			{Header{Type: TypePing, Arg: 9}, nil},
			{Header{Type: TypeData, Length: 3000, Arg: 1100}, data(3000, 6)},
		}, buf, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stream bytes.Buffer
			tag := bytes.Repeat([]byte{0xee}, 16)
			for _, f := range tt.frames {
				f.h.Length = uint32(len(f.payload))
				var h [HeaderLen]byte
				f.h.Put(h[:])
				stream.Write(h[:])
				stream.Write(f.payload)
				stream.Write(tag)
			}
			src := &sizedReader{r: &stream}
			rd := NewReader(src, buf)
			for i, f := range tt.frames {
				h, err := rd.Next()
				if err != nil || h.Type != f.h.Type || h.Arg != f.h.Arg || int(h.Length) != len(f.payload) {
					t.Fatalf("frame %d: %v, %v; want %v", i, h, err, f.h)
				}
				got := make([]byte, h.Length)
				if err := rd.ReadData(got); err != nil || !bytes.Equal(got, f.payload) {
					t.Fatalf("frame %d: payload differs (%v)", i, err)
				}
				var gotTag [16]byte
				if err := rd.ReadTrailer(gotTag[:]); err != nil || !bytes.Equal(gotTag[:], tag) {
					t.Fatalf("frame %d: tag %x, %v", i, gotTag, err)
				}
			}
			if _, err := rd.Next(); err != io.EOF {
				t.Fatalf("after the last frame: %v, want io.EOF", err)
			}
			for i, n := range src.asked[1:] {
				if n <= buf && n > tt.maxFill {
					t.Errorf("read %d asked for %d bytes through the buffer, want at most %d (reads: %v)", i+1, n, tt.maxFill, src.asked)
				}
			}
			if tt.maxReads > 0 && len(src.asked) > tt.maxReads {
				t.Errorf("%d reads for small frames, want at most %d: %v", len(src.asked), tt.maxReads, src.asked)
			}
		})
	}
}
