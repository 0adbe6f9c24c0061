package quic_test

import (
	"context"
	"io"
	"testing"

	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/quic"
	"github.com/farpipe/farpipe/transport/tcp"
)

// BenchmarkThroughput measures one stream, one goroutine writing 16 KiB
// buffers (the size of the TLS records the session writes) and another
// reading and discarding them, over quic and, in the same run for
// comparison, over TCP loopback. It counts until the reader has read the
// last byte.
func BenchmarkThroughput(b *testing.B) {
	for _, bc := range []struct {
		name string
		tr   transport.Transport
	}{
		{"quic", quic.New()},
		{"tcp", tcp.New()},
	} {
		b.Run(bc.name, func(b *testing.B) { throughput(b, bc.tr) })
	}
}

func throughput(b *testing.B, tr transport.Transport) {
	const size = 16 << 10
	ctx := context.Background()
	ln, err := tr.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		b.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	read := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			read <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(io.Discard, c)
		read <- err
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
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
	if err := <-read; err != nil {
		b.Fatalf("Read: %v", err)
	}
}
