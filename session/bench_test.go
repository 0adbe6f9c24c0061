package session

import (
	"io"
	"testing"
)

// transferModes are the data paths whose allocations are checked: plain
// (TLS or a local transport carries the integrity) and with a tag on every
// frame (--no-encrypt).
var transferModes = []struct {
	name string
	cfg  func() *Config
}{
	{"plain", func() *Config { return nil }},
	{"tags", func() *Config { c := DefaultConfig(); c.Auth = keyedAuth{}; return c }},
}

// streamTo returns the writing stream of a session whose peer reads and
// discards everything, and a function that ends the transfer and reports
// the reader's error.
func streamTo(tb testing.TB, cfg *Config) (*Stream, func() error) {
	c, s := pair(tb, cfg)
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, s.Stream(0))
		done <- err
	}()
	w := c.Stream(0)
	return w, func() error {
		w.CloseWrite()
		return <-done
	}
}

// BenchmarkStreamTransfer moves 256 KiB writes through a session over
// loopback TCP to a reader: the whole data path, with allocations per
// write reported (steady state allocates nothing per frame).
func BenchmarkStreamTransfer(b *testing.B) {
	for _, m := range transferModes {
		b.Run(m.name, func(b *testing.B) {
			w, end := streamTo(b, m.cfg())
			const chunk = 256 << 10
			buf := make([]byte, chunk)
			w.Write(buf) // warm up: rings allocated
			b.SetBytes(chunk)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := w.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := end(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestTransferAllocatesNothing: once the rings exist, moving data
// allocates nothing per frame, on either end, in every mode.
func TestTransferAllocatesNothing(t *testing.T) {
	for _, m := range transferModes {
		t.Run(m.name, func(t *testing.T) {
			w, end := streamTo(t, m.cfg())
			buf := make([]byte, 256<<10)
			for range 64 { // warm up: rings, buffers, timers
				w.Write(buf)
			}
			allocs := testing.AllocsPerRun(200, func() {
				if _, err := w.Write(buf); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%.0f allocations per 256 KiB written", allocs)
			}
			if err := end(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
