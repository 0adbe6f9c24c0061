package code

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func benchServer(b *testing.B) (*server.Server, func() *nats.Conn) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("the embedded NATS server did not start")
	}
	b.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s, func() *nats.Conn {
		nc, err := nats.Connect(s.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		return nc
	}
}

// BenchmarkOffer is the time from Offer's call to the code being ready to
// print (the goal: 200 ms), on an embedded server on loopback.
func BenchmarkOffer(b *testing.B) {
	_, connect := benchServer(b)
	nc := connect()
	ctx := context.Background()
	for b.Loop() {
		o, err := Offer(ctx, nc, 2)
		if err != nil {
			b.Fatal(err)
		}
		o.Close()
	}
}

// BenchmarkExchange is a whole code exchange: Offer, then Join and Accept
// until both hold the Secret.
func BenchmarkExchange(b *testing.B) {
	_, connect := benchServer(b)
	onc, jnc := connect(), connect()
	ctx := context.Background()
	for b.Loop() {
		o, err := Offer(ctx, onc, 2)
		if err != nil {
			b.Fatal(err)
		}
		acc := acceptAsync(ctx, o)
		if _, err := Join(ctx, jnc, o.Code); err != nil {
			b.Fatal(err)
		}
		if got := <-acc; got.err != nil {
			b.Fatal(got.err)
		}
	}
}
