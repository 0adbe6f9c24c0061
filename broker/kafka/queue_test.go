package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/broker/brokertest"
)

// queueKafka starts a kfake cluster whose share groups lock a record for
// lock (kfake takes the broker's setting, not the group's) and returns a
// queue address on it.
func queueKafka(t *testing.T, lock time.Duration, name string) string {
	t.Helper()
	_, brokers := startKafka(t, kfake.BrokerConfigs(map[string]string{
		"group.share.record.lock.duration.ms": fmt.Sprint(lock.Milliseconds()),
		"share.record.lock.sweep.interval.ms": "100",
	}))
	return "kafka://" + brokers + "/" + name
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

// serveN takes n items from q and answers each with f(data), status 0.
func serveN(ctx context.Context, q broker.Queue, n int, f func([]byte) []byte) error {
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

// TestQueueRoundTrip: items of every size come back through a worker, the
// outputs larger than a record in parts, whole and in place.
func TestQueueRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name  string
		sizes []int
	}{
		{"small", []int{0, 1, 100, 1000}},
		{"parts", []int{900 << 10, 1 << 20}}, // outputs 4x the input
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := queueKafka(t, 30*time.Second, "rt")
			prod, work := openQueue(t, addr, 0), openQueue(t, addr, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sub := brokertest.Submit(t, ctx, prod)
			defer sub.Close()
			quad := func(b []byte) []byte { return bytes.Repeat(b, 4) }
			served := make(chan error, 1)
			go func() { served <- serveN(ctx, work, len(tt.sizes), quad) }()
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
// loses it to another worker when its lock expires; when both finish it,
// the producer gets the first result only.
func TestQueueRedeliveryDeduped(t *testing.T) {
	addr := queueKafka(t, 500*time.Millisecond, "dup")
	prod := openQueue(t, addr, 0)
	w1, w2 := openQueue(t, addr, time.Second), openQueue(t, addr, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub := brokertest.Submit(t, ctx, prod)
	defer sub.Close()
	brokertest.Put(t, ctx, sub, "a", "x")
	first, err := w1.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := w2.Take(ctx) // after the lock expired: the same item
	if err != nil {
		t.Fatal(err)
	}
	if first.Item().ID != "a" || second.Item().ID != "a" {
		t.Fatalf("took %q and %q", first.Item().ID, second.Item().ID)
	}
	for i, w := range []broker.Work{second, first} {
		fmt.Fprintf(w, "run %d", i)
		if err := w.Finish(ctx, broker.WorkStatus{}); err != nil {
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

// TestQueueDeadWorker: a worker that goes away holding an item (its
// connection closes) gives it back at once, without waiting for the lock.
func TestQueueDeadWorker(t *testing.T) {
	addr := queueKafka(t, time.Hour, "dead")
	prod := openQueue(t, addr, 0)
	w1, w2 := openQueue(t, addr, 0), openQueue(t, addr, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub := brokertest.Submit(t, ctx, prod)
	defer sub.Close()
	brokertest.Put(t, ctx, sub, "a", "x")
	if _, err := w1.Take(ctx); err != nil {
		t.Fatal(err)
	}
	w1.Close()
	if err := serveN(ctx, w2, 1, bytes.ToUpper); err != nil {
		t.Fatal(err)
	}
	r, err := sub.Result(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r.Output); string(got) != "X" {
		t.Fatalf("got %q", got)
	}
}

// TestQueueProgressKeepsItem: a worker that reports progress keeps its
// item past its lock; another worker gets nothing.
func TestQueueProgressKeepsItem(t *testing.T) {
	// A lock of 2 s: a renewal every 100 ms leaves room for a loaded
	// machine's stalls (-race on 2 shared cores: 1 s was too short once).
	addr := queueKafka(t, 2*time.Second, "hb")
	prod := openQueue(t, addr, 0)
	w1, w2 := openQueue(t, addr, 2*time.Second), openQueue(t, addr, 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub := brokertest.Submit(t, ctx, prod)
	defer sub.Close()
	brokertest.Put(t, ctx, sub, "slow", "x")
	w, err := w1.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The other worker tries for 2.5 locks while the first reports
	// progress every twentieth of one.
	tctx, tcancel := context.WithTimeout(ctx, 5*time.Second)
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

// TestQueueClosedRunDropped: the items a run left on the queue when it was
// closed are dropped by the workers, not run.
func TestQueueClosedRunDropped(t *testing.T) {
	addr := queueKafka(t, 30*time.Second, "closed")
	prod, work := openQueue(t, addr, 0), openQueue(t, addr, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub := brokertest.Submit(t, ctx, prod)
	brokertest.Put(t, ctx, sub, "left", "x")
	sub.Close()
	live := brokertest.Submit(t, ctx, prod)
	defer live.Close()
	brokertest.Put(t, ctx, live, "live", "y")
	w, err := work.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id := w.Item().ID; id != "live" {
		t.Fatalf("took item %q of a closed run", id)
	}
	w.GiveBack()
}
