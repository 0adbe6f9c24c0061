package farpipe_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/farpipe/farpipe"
)

// BenchmarkCompress sends 64 MiB through a Conn pair on loopback, with and
// without zstd, for text and random data: the in-process counterpart of
// `go run ./bench -part compress`, for profiling.
func BenchmarkCompress(b *testing.B) {
	const size = 64 << 20
	data := map[string][]byte{"text": logLines(size), "random": randomBytes(size)}
	for _, kind := range []string{"text", "random"} {
		for _, c := range []string{"none", "zstd"} {
			b.Run(kind+"/"+c, func(b *testing.B) {
				opts := []farpipe.Option{farpipe.WithCompression(c)}
				b.SetBytes(size)
				for b.Loop() {
					d, l := pairWith(b, opts, opts)
					done := make(chan error, 1)
					go func() {
						_, err := l.WriteTo(io.Discard)
						done <- err
					}()
					if _, err := d.ReadFrom(bytes.NewReader(data[kind])); err != nil {
						b.Fatal(err)
					}
					if err := d.CloseWrite(); err != nil {
						b.Fatal(err)
					}
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
