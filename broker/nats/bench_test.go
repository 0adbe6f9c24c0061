package nats_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/broker/brokertest"
)

// benchData is the input of the benchmarks: ~100-byte lines.
var benchData = brokertest.Lines("bench", 32<<20/100, 100)

// BenchmarkPubSub publishes benchData to a new stream and reads it back
// whole: farpipe (Pub then Sub), and beside it a bare nats.go JetStream
// publisher and consumer with the same message size (DefaultMaxMessage), the
// same number of messages in flight and the same acknowledgements (explicit,
// each message, MaxAckPending DefaultMaxPending).
func BenchmarkPubSub(b *testing.B) {
	r := startRelay(b)
	n := 0
	b.Run("farpipe", func(b *testing.B) {
		b.SetBytes(int64(len(benchData)))
		for b.Loop() {
			n++
			s, err := broker.Open(context.Background(), fmt.Sprintf("%s/bf%d", r.ClientURL(), n), broker.StreamConfig{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := broker.Pub(context.Background(), s, bytes.NewReader(benchData), broker.PubConfig{}); err != nil {
				b.Fatal(err)
			}
			st, err := broker.Sub(context.Background(), s, io.Discard, broker.SubOptions{})
			if err != nil || st.Bytes != uint64(len(benchData)) {
				b.Fatalf("Sub: %d bytes, %v", st.Bytes, err)
			}
			s.Close()
		}
	})
	b.Run("nats.go", func(b *testing.B) {
		nc, err := natsgo.Connect(r.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		b.SetBytes(int64(len(benchData)))
		for b.Loop() {
			n++
			bareRoundTrip(b, nc, fmt.Sprintf("bn%d", n))
		}
	})
}

// bareRoundTrip is the peer: a minimal nats.go JetStream publisher and
// consumer.
func bareRoundTrip(b *testing.B, nc *natsgo.Conn, name string) {
	ctx := context.Background()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(broker.DefaultMaxInFlight))
	if err != nil {
		b.Fatal(err)
	}
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".*"}, Storage: jetstream.FileStorage})
	if err != nil {
		b.Fatal(err)
	}
	data := benchData
	msgs := 0
	for len(data) > 0 {
		// Whole lines up to the same message size as Pub's.
		cut := min(len(data), broker.DefaultMaxMessage-broker.MaxHeader)
		if cut < len(data) {
			cut = bytes.LastIndexByte(data[:cut], '\n') + 1
		}
		if _, err := js.PublishAsync(name+".p", data[:cut]); err != nil {
			b.Fatal(err)
		}
		data = data[cut:]
		msgs++
	}
	<-js.PublishAsyncComplete()
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: broker.DefaultMaxPending})
	if err != nil {
		b.Fatal(err)
	}
	it, err := c.Messages(jetstream.PullMaxMessages(broker.DefaultMaxPending))
	if err != nil {
		b.Fatal(err)
	}
	defer it.Stop()
	got := 0
	for i := 0; i < msgs; i++ {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		got += len(m.Data())
		io.Discard.Write(m.Data())
		m.Ack()
	}
	if got != len(benchData) {
		b.Fatalf("the peer read %d bytes of %d", got, len(benchData))
	}
}
