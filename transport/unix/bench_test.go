//go:build unix || windows

package unix_test

import (
	"context"
	"io"
	"testing"

	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/tcp"
	"github.com/farpipe/farpipe/transport/unix"
)

// BenchmarkThroughput measures one stream, one goroutine writing 1 MiB
// buffers and another reading and discarding them, over a Unix socket and,
// in the same run for comparison, over TCP loopback. The time includes
// draining what is still in the socket buffers after the last Write.
func BenchmarkThroughput(b *testing.B) {
	for _, bc := range []struct {
		name string
		tr   transport.Transport
		addr func(b *testing.B) string
	}{
		{"unix", unix.New(), func(b *testing.B) string { return sockPath(b) }},
		{"tcp", tcp.New(), func(*testing.B) string { return "127.0.0.1:0" }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			throughput(b, bc.tr, bc.addr(b))
		})
	}
}

func throughput(b *testing.B, tr transport.Transport, addr string) {
	const size = 1 << 20
	ctx := context.Background()
	ln, err := tr.Listen(ctx, addr)
	if err != nil {
		b.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		err error
	}
	read := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			read <- result{err: err}
			return
		}
		defer c.Close()
		buf := make([]byte, size)
		var n int64
		for {
			m, err := c.Read(buf)
			n += int64(m)
			if err == io.EOF {
				err = nil
			}
			if err != nil || m == 0 {
				read <- result{n, err}
				return
			}
		}
	}()
	c, err := tr.Dial(ctx, ln.Addr().String())
	if err != nil {
		b.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	buf := make([]byte, size)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatalf("Write: %v", err)
		}
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		b.Fatalf("CloseWrite: %v", err)
	}
	r := <-read
	b.StopTimer()
	if r.err != nil {
		b.Fatalf("Read: %v", r.err)
	}
	if want := int64(b.N) * size; r.n != want {
		b.Fatalf("read %d bytes, wrote %d", r.n, want)
	}
}
