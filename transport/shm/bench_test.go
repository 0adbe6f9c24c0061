//go:build linux

package shm_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/shm"
	"github.com/farpipe/farpipe/transport/tcp"
	"github.com/farpipe/farpipe/transport/unix"
)

const benchWrite = 1 << 20

// BenchmarkThroughput moves 1 MiB writes one way, with the reader
// discarding what it reads into a 1 MiB buffer, over shm, a Unix socket and
// TCP loopback in the same run, and logs shm's rate as a multiple of the
// others' (run with -v to see that line). memmove is the ceiling: one core
// copying a 1 MiB buffer (a ring transport copies each byte twice, once on
// each core, in parallel).
func BenchmarkThroughput(b *testing.B) {
	cases := []struct {
		name string
		pair func(b *testing.B) (w, r net.Conn)
	}{
		{"shm", func(b *testing.B) (net.Conn, net.Conn) { return benchPair(b, shm.New(), freshName(nil)) }},
		{"unix", func(b *testing.B) (net.Conn, net.Conn) {
			return benchPair(b, unix.New(), filepath.Join(b.TempDir(), "sock"))
		}},
		{"tcp", func(b *testing.B) (net.Conn, net.Conn) { return benchPair(b, tcp.New(), "127.0.0.1:0") }},
	}
	rate := map[string]float64{} // bytes per second of the last run of each case
	b.Run("memmove", func(b *testing.B) {
		src, dst := make([]byte, benchWrite), make([]byte, benchWrite)
		b.SetBytes(benchWrite)
		start := time.Now()
		for b.Loop() {
			copy(dst, src)
		}
		rate["memmove"] = float64(b.N) * benchWrite / time.Since(start).Seconds()
	})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			w, r := tc.pair(b)
			rate[tc.name] = benchStream(b, w, r)
		})
	}
	if rate["unix"] > 0 && rate["tcp"] > 0 && rate["memmove"] > 0 {
		b.Logf("shm = %.2f× unix, %.2f× tcp, %.2f of memmove",
			rate["shm"]/rate["unix"], rate["shm"]/rate["tcp"], rate["shm"]/rate["memmove"])
	}
}

// benchStream writes b.N MiB on w while reading them from r, and returns
// the rate in bytes per second.
func benchStream(b *testing.B, w, r net.Conn) float64 {
	total := int64(b.N) * benchWrite
	done := make(chan error, 1)
	buf := make([]byte, benchWrite)
	b.SetBytes(benchWrite)
	b.ResetTimer()
	start := time.Now()
	go func() {
		rbuf := make([]byte, benchWrite)
		var n int64
		for n < total {
			m, err := r.Read(rbuf)
			n += int64(m)
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range b.N {
		if _, err := w.Write(buf); err != nil {
			b.Fatalf("Write: %v", err)
		}
	}
	if err := <-done; err != nil {
		b.Fatalf("Read: %v", err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	return float64(total) / elapsed.Seconds()
}

// benchPair listens on addr with tr, dials it and returns the dialed and
// accepted ends, closed when the benchmark ends.
func benchPair(b *testing.B, tr transport.Transport, addr string) (d, a net.Conn) {
	ctx := context.Background()
	ln, err := tr.Listen(ctx, addr)
	if err != nil {
		b.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err = tr.Dial(ctx, ln.Addr().String())
	if err != nil {
		ln.Close()
		<-accepted
		b.Fatalf("Dial: %v", err)
	}
	a = <-accepted
	if a == nil {
		d.Close()
		b.Fatal("Accept failed")
	}
	b.Cleanup(func() { d.Close(); a.Close() })
	return d, a
}
