package farpipe

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// FuzzDecompress feeds arbitrary bytes, as a peer that agreed to compress
// could send them, to the decompressing reader: no panic; a failure is
// ErrCompressed and aborts the session; what decodes matches a reference
// decoder with no limits.
func FuzzDecompress(f *testing.F) {
	var b bytes.Buffer
	enc, _ := zstd.NewWriter(&b, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false))
	enc.Write(bytes.Repeat([]byte("farpipe compresses logs\n"), 100))
	enc.Flush()
	enc.Close()
	f.Add(b.Bytes())
	raw := append(append([]byte{}, rawFrameHeader...), 5<<3, 0, 0, 'h', 'e', 'l', 'l', 'o')
	f.Add(append(raw, rawLastBlock...))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa8, 0x00, 0x00, 0x00})
	f.Add([]byte("not zstd"))
	// A frame of raw blocks between two compressed frames, and a
	// skippable frame.
	f.Add(append(append(append(append([]byte{}, b.Bytes()...), raw...), rawLastBlock...), b.Bytes()...))
	f.Add([]byte{0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 'h', 'i'})
	f.Fuzz(func(t *testing.T, in []byte) {
		// The same bytes by WriteTo, by WriteTo in pieces of 1 to 7 bytes
		// (headers split across the stream's slices) and by Read in
		// pieces: one result.
		size := 1
		if len(in) > 0 {
			size += int(in[0] % 7)
		}
		var outs [3][]byte
		var errs [3]error
		for i := range outs {
			aborted := false
			var src zsource = bytes.NewReader(in)
			if i > 0 {
				src = &pieces{b: in, size: size}
			}
			z := &zreader{st: src, abort: func(string) { aborted = true }}
			var out bytes.Buffer
			var err error
			if i < 2 {
				_, err = z.WriteTo(&out)
			} else {
				_, err = out.ReadFrom(struct{ io.Reader }{z})
			}
			if err != nil && (!errors.Is(err, ErrCompressed) || !aborted) {
				t.Fatalf("way %d: error %v (aborted %v), want ErrCompressed and an abort", i, err, aborted)
			}
			outs[i], errs[i] = out.Bytes(), err
		}
		for i := 1; i < len(outs); i++ {
			if (errs[i] == nil) != (errs[0] == nil) || errs[0] == nil && !bytes.Equal(outs[i], outs[0]) {
				t.Fatalf("way %d: %d bytes, error %v; way 0: %d bytes, error %v", i, len(outs[i]), errs[i], len(outs[0]), errs[0])
			}
		}
		if errs[0] != nil {
			return
		}
		ref, _ := zstd.NewReader(bytes.NewReader(in), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxDecoderWindow))
		defer ref.Close()
		want, rerr := io.ReadAll(ref)
		if rerr == nil && !bytes.Equal(outs[0], want) {
			t.Fatalf("decoded %d bytes, the reference decoder %d", len(outs[0]), len(want))
		}
	})
}

// pieces is a zsource that gives b a few bytes at a time.
type pieces struct {
	b    []byte
	size int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), p.size)], p.b)
	p.b = p.b[n:]
	return n, nil
}

func (p *pieces) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for len(p.b) > 0 {
		n, err := w.Write(p.b[:min(len(p.b), p.size)])
		p.b = p.b[n:]
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
