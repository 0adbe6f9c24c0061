package kafka_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/broker/brokertest"
)

// TestFaults: the broker answers produce requests with errors after
// storing their records (a lost answer: the client sends them again), or
// refuses them, fails fetches and offset commits; a durable subscriber is
// stopped halfway and resumed. The records arrive once each, in order.
func TestFaults(t *testing.T) {
	for _, tt := range []struct {
		name   string
		faults []kfake.Fault
	}{
		{"stored, answer lost", []kfake.Fault{{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: 5}}},
		{"stored, too few replicas", []kfake.Fault{{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicasAfterAppend, Count: 3}}},
		{"not the leader", []kfake.Fault{{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotLeaderForPartition, Count: 1}}},
		{"fetch and commit fail", []kfake.Fault{
			{Keys: []kmsg.Key{kmsg.Fetch}, Err: kerr.NotLeaderForPartition, Count: 1},
			{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.CoordinatorLoadInProgress, Count: 3},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, brokers := startKafka(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := broker.Open(ctx, "kafka://"+brokers+"/faults", broker.StreamConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			h := c.Fault(tt.faults...)
			defer h.Remove()
			in := brokertest.Lines("p", 20000, 50)
			if _, err := broker.Pub(ctx, s, bytes.NewReader(in), broker.PubConfig{ID: "p", MaxMessage: 4096}); err != nil {
				t.Fatal(err)
			}
			// A durable subscriber stopped halfway, then resumed.
			o := broker.SubOptions{SubConfig: broker.SubConfig{Durable: "d"}}
			half := &stopAfter{n: len(in) / 2, cancel: cancel}
			sctx, scancel := context.WithCancel(ctx)
			half.cancel = scancel
			if _, err := broker.Sub(sctx, s, half, o); err != context.Canceled {
				t.Fatalf("the first Sub returned %v, want context.Canceled", err)
			}
			scancel()
			var rest bytes.Buffer
			if _, err := broker.Sub(ctx, s, &rest, o); err != nil {
				t.Fatal(err)
			}
			if got := append(half.buf.Bytes(), rest.Bytes()...); !bytes.Equal(got, in) {
				t.Fatalf("the durable subscriber wrote %d bytes in two runs (%d, %d), want the input's %d once", len(got), half.buf.Len(), rest.Len(), len(in))
			}
			if h.Hits() == 0 {
				t.Fatal("no fault was hit")
			}
		})
	}
}

// stopAfter keeps what is written and cancels its context once it holds
// at least n bytes: a subscriber stopped mid-stream.
type stopAfter struct {
	buf    bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (w *stopAfter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if w.buf.Len() >= w.n {
		w.cancel()
	}
	return len(p), nil
}

// TestTruncateSendsNothingTwice: Kafka cannot remove records; after
// Truncate, messages sent again that the topic holds already are confirmed
// at their positions and not stored twice.
func TestTruncateSendsNothingTwice(t *testing.T) {
	_, brokers := startKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := broker.Open(ctx, "kafka://"+brokers+"/trunc", broker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.Publisher(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var msgs []broker.Message
	for i := range 5 {
		data := broker.AppendRecord(broker.AppendHeader(nil, broker.Header{Rec: uint64(i)}), fmt.Appendf(nil, "r%d\n", i))
		msgs = append(msgs, broker.Message{ID: fmt.Sprintf("p-%d-0", i), Publisher: "p", Data: data})
	}
	publish := func(ms []broker.Message) []uint64 {
		t.Helper()
		type res struct {
			pos uint64
			err error
		}
		ch := make(chan res, len(ms))
		for _, m := range ms {
			if err := p.Publish(ctx, m, 0, func(pos uint64, err error) { ch <- res{pos, err} }); err != nil {
				t.Fatal(err)
			}
		}
		var got []uint64
		for range ms {
			r := <-ch
			if r.err != nil {
				t.Fatal(r.err)
			}
			got = append(got, r.pos)
		}
		return got
	}
	first := publish(msgs[:3])
	if err := p.Truncate(ctx, first[0]); err != nil { // 2 and 3 stay: sent again
		t.Fatal(err)
	}
	again := publish(msgs[1:])
	if again[0] != first[1] || again[1] != first[2] || again[2] <= first[2] {
		t.Fatalf("sent again, messages 1 to 4 were stored at %v; the first time 0 to 2 at %v", again, first)
	}
	sub, err := s.Subscribe(ctx, broker.SubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var n int
	for {
		_, err := sub.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 5 {
		t.Fatalf("the topic holds %d messages, want 5", n)
	}
}

// TestBrokerRestart: the Kafka broker is stopped and started again (the
// same port, the same data directory) while a publisher writes and a
// durable subscriber follows; both go on, and the subscriber writes every
// record once, in order.
func TestBrokerRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	start := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.SyncWrites())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := start()
	defer func() { c.Close() }()
	addr := fmt.Sprintf("kafka://127.0.0.1:%d/restart", port)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := broker.Open(ctx, addr, broker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := brokertest.Lines("p", 40000, 50)
	w := &lineCounter{lines: make(chan int, 1)}
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	subDone := make(chan error, 1)
	go func() {
		_, err := broker.Sub(sctx, s, w, broker.SubOptions{SubConfig: broker.SubConfig{Durable: "d", Follow: true}})
		subDone <- err
	}()
	pr, pw := io.Pipe()
	pubDone := make(chan error, 1)
	go func() {
		_, err := broker.Pub(ctx, s, pr, broker.PubConfig{ID: "p", MaxMessage: 4096})
		pubDone <- err
	}()
	half := len(in) / 2
	if _, err := pw.Write(in[:half]); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 1000)
	c.Close()
	c = start()
	if _, err := pw.Write(in[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-pubDone; err != nil {
		t.Fatalf("Pub across the restart: %v", err)
	}
	w.waitFor(t, 40000)
	scancel()
	if err := <-subDone; err != context.Canceled {
		t.Fatalf("Sub across the restart: %v", err)
	}
	if got := w.bytes(); !bytes.Equal(got, in) {
		t.Fatalf("the subscriber wrote %d bytes, want the input's %d once", len(got), len(in))
	}
}

// lineCounter keeps what is written and reports its line count.
type lineCounter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	n     int
	lines chan int // the count after a write (capacity 1, latest wins)
}

func (w *lineCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.n += bytes.Count(p, []byte("\n"))
	n := w.n
	w.mu.Unlock()
	select {
	case <-w.lines:
	default:
	}
	w.lines <- n
	return len(p), nil
}

func (w *lineCounter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// waitFor waits until n lines were written.
func (w *lineCounter) waitFor(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(90 * time.Second)
	for {
		select {
		case got := <-w.lines:
			if got >= n {
				return
			}
		case <-timeout:
			w.mu.Lock()
			have := w.n
			w.mu.Unlock()
			t.Fatalf("%d lines of %d after 90 s", have, n)
		}
	}
}

// TestSlowBrokerBatches: while the broker is slow to answer, the producer
// gathers many messages; its batches stay within the broker's default
// message.max.bytes (1 MiB), which a larger batch limit broke under load
// (MESSAGE_TOO_LARGE, and pub exited 1).
func TestSlowBrokerBatches(t *testing.T) {
	c, brokers := startKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := broker.Open(ctx, "kafka://"+brokers+"/slow", broker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.SleepControl(func() { time.Sleep(300 * time.Millisecond) }) // the first produce only
		return nil, nil, false
	})
	// 8 MB of lines that do not compress: a batch's size is its size.
	raw := make([]byte, 6<<20)
	rand.NewChaCha8([32]byte{7}).Read(raw)
	in := []byte(base64.StdEncoding.EncodeToString(raw))
	for i := 79; i < len(in); i += 80 {
		in[i] = '\n'
	}
	if _, err := broker.Pub(ctx, s, bytes.NewReader(in), broker.PubConfig{ID: "p"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := broker.Sub(ctx, s, &out, broker.SubOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), in) {
		t.Fatalf("sub wrote %d bytes, want the input's %d", out.Len(), len(in))
	}
}
