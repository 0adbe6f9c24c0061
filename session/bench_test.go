package session

import (
	"io"
	"testing"
)

// BenchmarkStreamTransfer moves 256 KiB writes through a session over
// loopback TCP to a reader: the whole data path, with allocations per
// write reported (steady state allocates nothing per frame).
func BenchmarkStreamTransfer(b *testing.B) {
	c, s := pair(b, nil)
	const chunk = 256 << 10
	buf := make([]byte, chunk)
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, s.Stream(0))
		done <- err
	}()
	w := c.Stream(0)
	w.Write(buf) // warm up: rings allocated
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	w.CloseWrite()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
