package nats_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/farpipe/farpipe/internal/testrelay"
	"github.com/farpipe/farpipe/transport"
)

// BenchmarkThroughput moves 1 MiB writes through a relay in-process (the
// relay, both ends and their NATS connections share the process: compare
// with the harness, go run ./bench -part relay, for separate processes).
func BenchmarkThroughput(b *testing.B) {
	r := testrelay.Start(b)
	ctx := context.Background()
	ln, err := transport.Listen(ctx, r.URL("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(io.Discard, c)
		done <- err
	}()
	// Another NATS connection than the listener's, as another process has.
	d, err := transport.Dial(ctx, strings.Replace(r.URL("bench"), r.HostPort(), r.HostPort()+","+r.HostPort(), 1))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if _, err := d.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	d.(interface{ CloseWrite() error }).CloseWrite()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	d.Close()
}
