package farpipe_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
)

// echoPair returns the two ends of a connection of the given kind: "tcp"
// (raw loopback TCP, TCP_NODELAY, the ceiling), "farpipe" (default: TLS and
// token) or "farpipe-noencrypt".
func echoPair(b *testing.B, kind string) (client, server net.Conn) {
	b.Helper()
	ctx := context.Background()
	if kind == "tcp" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() { c, _ := ln.Accept(); accepted <- c }()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s := <-accepted
		b.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}
	var opts []farpipe.Option
	if kind == "farpipe-noencrypt" {
		opts = append(opts, farpipe.WithNoEncrypt())
	}
	ln, err := farpipe.Listen(ctx, "127.0.0.1:0", opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *farpipe.Conn, 1)
	go func() { c, _ := ln.Accept(ctx); accepted <- c }()
	c, err := farpipe.Dial(ctx, ln.URL(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	s := <-accepted
	b.Cleanup(func() { c.Abort("done"); s.Abort("done") })
	return c, s
}

// echo returns every 64-byte message that s receives, until s fails.
func echo(s net.Conn) {
	buf := make([]byte, 64)
	for {
		if _, err := io.ReadFull(s, buf); err != nil {
			return
		}
		if _, err := s.Write(buf); err != nil {
			return
		}
	}
}

// pingPong sends n 64-byte messages from c to the echo at its peer, each
// waiting for its echo, and returns the mean round trip.
func pingPong(b *testing.B, c net.Conn, n int) time.Duration {
	msg := make([]byte, 64)
	start := time.Now()
	for range n {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / time.Duration(n)
}

// BenchmarkRoundTrip measures the round trip of a 64-byte message on a
// farpipe.Conn beside raw loopback TCP in the same run, interleaved, and
// reports each and their ratio (goal: at most 1.5x raw TCP).
func BenchmarkRoundTrip(b *testing.B) {
	for _, kind := range []string{"farpipe", "farpipe-noencrypt"} {
		b.Run(kind, func(b *testing.B) {
			tc, ts := echoPair(b, "tcp")
			fc, fs := echoPair(b, kind)
			go echo(ts)
			go echo(fs)
			pingPong(b, tc, 200) // warm up
			pingPong(b, fc, 200)
			var raw, fp time.Duration
			b.ResetTimer()
			for b.Loop() {
				raw += pingPong(b, tc, 100)
				fp += pingPong(b, fc, 100)
			}
			b.ReportMetric(float64(raw.Microseconds())/float64(b.N), "tcp-µs/rt")
			b.ReportMetric(float64(fp.Microseconds())/float64(b.N), "farpipe-µs/rt")
			b.ReportMetric(float64(fp)/float64(raw), "ratio")
		})
	}
}
