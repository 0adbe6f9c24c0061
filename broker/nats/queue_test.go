package nats

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/broker/brokertest"
	"github.com/farpipe/farpipe/relay"
	"go.uber.org/goleak"
)

// queueLeaks fails the test if it leaves a goroutine behind; call it
// first, so that it runs after every other cleanup.
func queueLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// queueRelay starts an in-process relay on loopback with messages of at
// most maxPayload bytes (0: NATS's default) and returns its URL.
func queueRelay(t *testing.T, maxPayload int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := relay.Start(ctx, relay.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s.ClientURL()
}

func openQueue(t *testing.T, addr string, ackWait time.Duration) broker.Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := broker.OpenQueue(ctx, addr, broker.QueueOptions{AckWait: ackWait, Worker: fmt.Sprintf("w%d", rand.N(1000))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// queueServeN takes n items from q and answers each with f(data), status 0.
// It returns when they are done or ctx ends.
func queueServeN(ctx context.Context, q broker.Queue, n int, f func([]byte) []byte) error {
	for range n {
		w, err := q.Take(ctx)
		if err != nil {
			return err
		}
		if _, err := w.Write(f(w.Item().Data)); err != nil {
			return err
		}
		if err := w.Finish(ctx, broker.WorkStatus{}); err != nil {
			return err
		}
	}
	return nil
}

// TestQueueRoundTrip: items of every size come back through workers, the
// outputs larger than a message in parts, whole and in place.
func TestQueueRoundTrip(t *testing.T) {
	queueLeaks(t)
	for _, tt := range []struct {
		name       string
		maxPayload int
		sizes      []int
	}{
		{"small", 0, []int{0, 1, 100, 1000}},
		{"parts", 64 << 10, []int{56 << 10, 200 << 10, 1 << 20}}, // outputs 4x the input
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := queueRelay(t, tt.maxPayload)
			addr := url + "/rt"
			prod, work := openQueue(t, addr, 0), openQueue(t, addr, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sub := brokertest.Submit(t, ctx, prod)
			defer sub.Close()
			quad := func(b []byte) []byte { return bytes.Repeat(b, 4) }
			served := make(chan error, 1)
			go func() { served <- queueServeN(ctx, work, len(tt.sizes), quad) }()
			var items [][]byte
			for i, n := range tt.sizes {
				data := make([]byte, min(n, work.MaxItem()))
				rand.NewChaCha8([32]byte{byte(i)}).Read(data)
				items = append(items, data)
				if err := sub.Put(ctx, broker.WorkItem{ID: fmt.Sprint(i), Data: data, Meta: map[string]string{"Chunk": fmt.Sprint(i)}}); err != nil {
					t.Fatal(err)
				}
			}
			for i, data := range items {
				r, err := sub.Result(ctx, fmt.Sprint(i))
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r.Output)
				r.Output.Close()
				if err != nil || r.Status.Code != 0 || !bytes.Equal(got, quad(data)) {
					t.Fatalf("item %d: status %d, %d bytes (want %d), %v", i, r.Status.Code, len(got), 4*len(data), err)
				}
			}
			if err := <-served; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestQueueRedeliveryDeduped: a worker that takes an item and goes silent
// loses it to another worker after the ack wait; when both finish it, the
// producer gets one result.
func TestQueueRedeliveryDeduped(t *testing.T) {
	queueLeaks(t)
	addr := queueRelay(t, 0) + "/dup"
	prod := openQueue(t, addr, 0)
	w1, w2 := openQueue(t, addr, 500*time.Millisecond), openQueue(t, addr, 500*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub := brokertest.Submit(t, ctx, prod)
	defer sub.Close()
	brokertest.Put(t, ctx, sub, "a", "x")
	first, err := w1.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := w2.Take(ctx) // after the ack wait: the same item
	if err != nil {
		t.Fatal(err)
	}
	if first.Item().ID != "a" || second.Item().ID != "a" {
		t.Fatalf("took %q and %q", first.Item().ID, second.Item().ID)
	}
	for i, w := range []broker.Work{second, first} {
		fmt.Fprintf(w, "run %d", i)
		if err := w.Finish(ctx, broker.WorkStatus{}); err != nil && i == 0 {
			t.Fatal(err)
		}
	}
	r, err := sub.Result(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r.Output)
	if string(got) != "run 0" {
		t.Fatalf("got %q, want the first result", got)
	}
	if _, err := sub.Result(ctx, "a"); err == nil {
		t.Fatal("a second result of the same item was handed out")
	}
}

// TestQueueProgressKeepsItem: a worker that reports progress keeps its
// item past the ack wait; another worker gets nothing.
func TestQueueProgressKeepsItem(t *testing.T) {
	queueLeaks(t)
	addr := queueRelay(t, 0) + "/hb"
	prod := openQueue(t, addr, 0)
	w1, w2 := openQueue(t, addr, time.Second), openQueue(t, addr, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub := brokertest.Submit(t, ctx, prod)
	defer sub.Close()
	brokertest.Put(t, ctx, sub, "slow", "x")
	w, err := w1.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The other worker tries for 3 ack waits while the first reports
	// progress every tenth of one.
	tctx, tcancel := context.WithTimeout(ctx, 3*time.Second)
	defer tcancel()
	var wg sync.WaitGroup
	wg.Add(1)
	var stolen broker.Work
	go func() {
		defer wg.Done()
		stolen, _ = w2.Take(tctx)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for tctx.Err() == nil {
		select {
		case <-tick.C:
			w.Progress()
		case <-tctx.Done():
		}
	}
	wg.Wait()
	if stolen != nil {
		t.Fatalf("item %q went to a second worker while the first reported progress", stolen.Item().ID)
	}
	if err := w.Finish(ctx, broker.WorkStatus{Code: 3, Note: "exit 3"}); err != nil {
		t.Fatal(err)
	}
	r, err := sub.Result(ctx, "slow")
	if err != nil || r.Status.Code != 3 || r.Status.Note != "exit 3" {
		t.Fatalf("got %+v, %v", r, err)
	}
	r.Output.Close()
}

func TestQueueAddress(t *testing.T) {
	queueLeaks(t)
	for _, addr := range []string{"nats://127.0.0.1:1/", "nats://127.0.0.1:1/a.b", "nats://127.0.0.1:1/a/b", "nats://127.0.0.1:1"} {
		if _, _, err := queueAddr(addr); err == nil {
			t.Errorf("%s: no error", addr)
		}
	}
	if _, err := broker.OpenQueue(context.Background(), "kafka://x/y", broker.QueueOptions{}); err == nil {
		t.Error("kafka://: no error")
	}
	_ = os.Stderr
}
