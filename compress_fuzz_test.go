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
	f.Fuzz(func(t *testing.T, in []byte) {
		aborted := false
		z := &zreader{src: zsource{r: bytes.NewReader(in)}, abort: func(string) { aborted = true }}
		var out bytes.Buffer
		_, err := z.WriteTo(&out)
		if err != nil {
			if !errors.Is(err, ErrCompressed) || !aborted {
				t.Fatalf("error %v (aborted %v), want ErrCompressed and an abort", err, aborted)
			}
			return
		}
		ref, _ := zstd.NewReader(bytes.NewReader(in), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxDecoderWindow))
		defer ref.Close()
		want, rerr := io.ReadAll(ref)
		if rerr == nil && !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("decoded %d bytes, the reference decoder %d", out.Len(), len(want))
		}
	})
}
