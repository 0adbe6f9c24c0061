package transporttest

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/farpipe/farpipe/transport"
)

// Throughput benchmarks one connection of the transport that listens at
// listenAddr (SCHEME://HOST:PORT..., port 0 for a free one): b.N writes of
// size bytes from the dialer (or, with listenerWrites, from the listener),
// the other end reading and discarding; it counts until the reader has
// read the last byte. A transport's BenchmarkThroughput runs it beside
// tcp's in the same run.
func Throughput(b *testing.B, listenAddr string, size int, listenerWrites bool) {
	ctx := context.Background()
	ln, err := transport.Listen(ctx, listenAddr)
	if err != nil {
		b.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	scheme, _, _ := transport.Parse(listenAddr)
	d, err := transport.Dial(ctx, scheme+"://"+ln.Addr().String())
	if err != nil {
		b.Fatalf("Dial: %v", err)
	}
	defer d.Close()
	a := <-accepted
	if a == nil {
		b.Fatal("Accept failed")
	}
	defer a.Close()
	from, to := d, a
	if listenerWrites {
		from, to = a, d
	}
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, to)
		read <- err
	}()
	buf := make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		if _, err := from.Write(buf); err != nil {
			b.Fatalf("Write: %v", err)
		}
	}
	if cw, ok := from.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		from.Close()
	}
	if err := <-read; err != nil {
		b.Fatalf("Read: %v", err)
	}
}
