package ws_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/farpipe/farpipe/transport"
	_ "github.com/farpipe/farpipe/transport/tcp"
)

// BenchmarkThroughput moves 1 MiB writes one way over loopback, the
// reader discarding, over ws in both directions (a dialer masks what it
// sends, as WebSocket clients must) and over tcp for comparison.
func BenchmarkThroughput(b *testing.B) {
	for _, bc := range []struct {
		name, addr     string
		listenerWrites bool
	}{
		{"ws/DialerWrites", "ws://127.0.0.1:0/bench", false},
		{"ws/ListenerWrites", "ws://127.0.0.1:0/bench", true},
		{"tcp", "tcp://127.0.0.1:0", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			ln, err := transport.Listen(ctx, bc.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, _ := ln.Accept()
				accepted <- c
			}()
			scheme, _, _ := transport.Parse(bc.addr)
			d, err := transport.Dial(ctx, scheme+"://"+ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			a := <-accepted
			from, to := d, a
			if bc.listenerWrites {
				from, to = a, d
			}
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, to)
				done <- err
			}()
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				if _, err := from.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			from.Close()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			to.Close()
		})
	}
}
