package amqp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe/broker"
	fpamqp "github.com/farpipe/farpipe/broker/amqp"
	"github.com/farpipe/farpipe/broker/brokertest"
)

// The work queue's tests, modeled on broker/nats's and broker/kafka's;
// RabbitMQ has no lease to expire (no ack wait), so a dead worker is one
// whose connection closed.

func openQueue(t *testing.T, addr string, slots int, worker string) broker.Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := broker.OpenQueue(ctx, addr, broker.QueueOptions{Slots: slots, Worker: worker})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// quad is the command of the tests' workers: the input four times.
func quad(b []byte) []byte { return bytes.Repeat(b, 4) }

// serve takes items from q and answers each with f(data), status 0, until
// ctx ends. A failed take or finish (a broker restarting) is tried again,
// as farpipe worker does.
func serve(ctx context.Context, q broker.Queue, f func([]byte) []byte) {
	for ctx.Err() == nil {
		w, err := q.Take(ctx)
		if err != nil {
			continue // Take waited for the broker (with backoff)
		}
		if _, err := w.Write(f(w.Item().Data)); err != nil || w.Finish(ctx, broker.WorkStatus{}) != nil {
			w.GiveBack()
		}
	}
}

// startServing runs n workers, each on a queue of its own, until the
// test ends.
func startServing(t *testing.T, addr string, n int, f func([]byte) []byte) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		q := openQueue(t, addr, 2, fmt.Sprintf("w%d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ctx, q, f)
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() }) // before the queues close
}

// items returns n items of random data of sizes up to size.
func items(n, size int) [][]byte {
	var sizes []int
	for i := range n {
		sizes = append(sizes, (i*7919)%(size+1))
	}
	return itemsOf(sizes...)
}

// itemsOf returns items of random data of the sizes given.
func itemsOf(sizes ...int) [][]byte {
	r := rand.NewChaCha8([32]byte{byte(len(sizes))})
	var out [][]byte
	for _, n := range sizes {
		b := make([]byte, n)
		r.Read(b)
		out = append(out, b)
	}
	return out
}

// runItems is a small map: it puts every item (from a goroutine) and
// writes the results in order; before it waits for result number at, it
// calls midway. It returns the output and who ran each item.
func runItems(t *testing.T, ctx context.Context, q broker.Queue, in [][]byte, at int, midway func()) ([]byte, []string) {
	t.Helper()
	sub := brokertest.Submit(t, ctx, q)
	defer sub.Close()
	putErr := make(chan error, 1)       // a put failed
	put := make(chan struct{}, len(in)) // one per item put
	putDone := make(chan struct{})
	go func() {
		defer close(putDone)
		for i, data := range in {
			if err := sub.Put(ctx, broker.WorkItem{ID: fmt.Sprint(i), Data: data, Meta: map[string]string{"Chunk": fmt.Sprint(i)}}); err != nil {
				putErr <- err
				return
			}
			put <- struct{}{}
		}
	}()
	defer func() { <-putDone }()
	var out bytes.Buffer
	var who []string
	for i := range in {
		if i == at && midway != nil {
			midway()
		}
		select {
		case <-put:
		case err := <-putErr:
			t.Fatalf("put: %v", err)
		}
		r, err := sub.Result(ctx, fmt.Sprint(i))
		if err != nil {
			t.Fatalf("item %d of %d: %v", i, len(in), err)
		}
		_, err = io.Copy(&out, r.Output)
		r.Output.Close()
		if err != nil || r.Status.Code != 0 {
			t.Fatalf("item %d: status %d, %v", i, r.Status.Code, err)
		}
		who = append(who, r.Worker)
	}
	return out.Bytes(), who
}

// sequential is what running f on each item in turn writes.
func sequential(in [][]byte, f func([]byte) []byte) []byte {
	var b bytes.Buffer
	for _, d := range in {
		b.Write(f(d))
	}
	return b.Bytes()
}

// TestQueueRoundTrip: items of every size come back through workers, the
// outputs larger than a message in parts, whole and in place.
func TestQueueRoundTrip(t *testing.T) {
	needRabbit(t)
	t.Parallel()
	for _, tt := range []struct {
		name    string
		in      [][]byte
		workers int
	}{
		{"small", items(200, 1000), 2},
		{"parts", itemsOf(0, 1<<20, 3<<20), 1}, // outputs of 4 and 12 MiB: 2 and 3 parts
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := newAddr()
			startServing(t, addr, tt.workers, quad)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			got, _ := runItems(t, ctx, openQueue(t, addr, 1, "map"), tt.in, 0, nil)
			if want := sequential(tt.in, quad); !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d: not the sequential run's", len(got), len(want))
			}
		})
	}
}

// TestQueueDeadWorker: an item whose worker went away holding it (its
// connection closed) goes to another worker at once; again and again, past
// the delivery count at which it is put back as a new message.
func TestQueueDeadWorker(t *testing.T) {
	needRabbit(t)
	t.Parallel()
	for _, deaths := range []int{1, 6} {
		t.Run(fmt.Sprint(deaths), func(t *testing.T) {
			addr := newAddr()
			prod := openQueue(t, addr, 1, "map")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sub := brokertest.Submit(t, ctx, prod)
			defer sub.Close()
			brokertest.Put(t, ctx, sub, "a", "x")
			for range deaths {
				q := openQueue(t, addr, 1, "dies")
				w, err := q.Take(ctx)
				if err != nil || w.Item().ID != "a" {
					t.Fatalf("took %v, %v", w, err)
				}
				q.Close()
			}
			startServing(t, addr, 1, bytes.ToUpper)
			r, err := sub.Result(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := io.ReadAll(r.Output); string(got) != "X" || r.Worker != "w0" {
				t.Fatalf("got %q from %s", got, r.Worker)
			}
		})
	}
}

// TestQueueRunTwiceDeduped: a worker that dies after storing a result and
// before acking its item has the item run again by another; the producer
// gets the first result only.
func TestQueueRunTwiceDeduped(t *testing.T) {
	needRabbit(t)
	t.Parallel()
	addr := newAddr()
	prod, w1, w2 := openQueue(t, addr, 1, "map"), openQueue(t, addr, 1, "w1"), openQueue(t, addr, 1, "w2")
	fpamqp.SetBeforeAck(w1, func() { w1.Close() }) // dies before the ack
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub := brokertest.Submit(t, ctx, prod)
	defer sub.Close()
	brokertest.Put(t, ctx, sub, "a", "x")
	for i, q := range []broker.Queue{w1, w2} {
		w, err := q.Take(ctx)
		if err != nil || w.Item().ID != "a" {
			t.Fatalf("worker %d took %v, %v", i+1, w, err)
		}
		fmt.Fprintf(w, "run %d", i)
		if err := w.Finish(ctx, broker.WorkStatus{}); (err != nil) != (i == 0) {
			t.Fatalf("worker %d: Finish returned %v", i+1, err)
		}
	}
	r, err := sub.Result(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r.Output); string(got) != "run 0" {
		t.Fatalf("got %q, want the first result", got)
	}
	if _, err := sub.Result(ctx, "a"); err == nil {
		t.Fatal("a second result of the same item was handed out")
	}
}

// TestQueueClosedRunDropped: the items a run left on the queue when it was
// closed are dropped by the workers, not run.
func TestQueueClosedRunDropped(t *testing.T) {
	needRabbit(t)
	t.Parallel()
	addr := newAddr()
	prod, work := openQueue(t, addr, 1, "map"), openQueue(t, addr, 1, "w")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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

// TestQueuePrefetch: a worker of two slots holds at most two items taken
// and not finished; a third item goes to another worker.
func TestQueuePrefetch(t *testing.T) {
	needRabbit(t)
	t.Parallel()
	addr := newAddr()
	prod := openQueue(t, addr, 1, "map")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub := brokertest.Submit(t, ctx, prod)
	defer sub.Close()
	two := openQueue(t, addr, 2, "two")
	for i := range 3 {
		if err := sub.Put(ctx, broker.WorkItem{ID: fmt.Sprint(i), Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	var held []broker.Work
	for range 2 {
		w, err := two.Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, w)
	}
	// The third is not this worker's while it holds two: another takes it.
	w, err := openQueue(t, addr, 1, "other").Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id := w.Item().ID; id != "2" {
		t.Fatalf("the other worker took %q, want 2", id)
	}
	for _, w := range append(held, w) {
		w.GiveBack()
	}
}

// TestQueueWorkerKilled: a worker process killed with SIGKILL in the middle
// of a chunk has its chunks run by the others; every output is written
// once, and the whole is the sequential run's.
func TestQueueWorkerKilled(t *testing.T) {
	needRabbit(t)
	t.Parallel()
	addr := newAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prod := openQueue(t, addr, 1, "map")
	in := items(300, 2000)
	var (
		took   string // the item the helper was running when killed
		stderr bytes.Buffer
	)
	got, who := runItems(t, ctx, prod, in, 0, func() {
		helper := exec.Command(os.Args[0], "-test.run=^TestQueueHelperWorker$")
		helper.Env = append(os.Environ(), helperEnv+"="+addr)
		helper.Stderr = &stderr
		out, err := helper.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := helper.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "running "); ok {
				took = id
				break
			}
		}
		helper.Process.Kill()
		helper.Wait()
		if took == "" {
			t.Fatalf("the helper worker took nothing: %s", stderr.Bytes())
		}
		startServing(t, addr, 2, quad)
	})
	if want := sequential(in, quad); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d: not the sequential run's", len(got), len(want))
	}
	var n int
	fmt.Sscan(took, &n)
	if who[n] == "helper" {
		t.Fatalf("item %s, which the helper was running when killed, has its result", took)
	}
}

const helperEnv = "FARPIPE_TEST_AMQP_HELPER"

// TestQueueHelperWorker is the worker process of TestQueueWorkerKilled: it
// serves items of the queue at $FARPIPE_TEST_AMQP_HELPER with two slots,
// finishes five, then says "running ID" of the next and waits to be killed.
func TestQueueHelperWorker(t *testing.T) {
	addr := os.Getenv(helperEnv)
	if addr == "" {
		t.Skip("the worker process of TestQueueWorkerKilled")
	}
	q, err := broker.OpenQueue(context.Background(), addr, broker.QueueOptions{Slots: 2, Worker: "helper"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		w, err := q.Take(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			fmt.Println("running", w.Item().ID)
			time.Sleep(time.Hour) // killed here, the item taken and not finished
		}
		w.Write(quad(w.Item().Data))
		if err := w.Finish(context.Background(), broker.WorkStatus{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestQueueBrokerRestart: the broker restarts in the middle of a run;
// puts, takes, results and acks are tried again, and the output is the
// sequential run's, each item's once. (Not parallel: it restarts the
// package's broker.)
func TestQueueBrokerRestart(t *testing.T) {
	needRabbit(t)
	addr := newAddr()
	startServing(t, addr, 2, quad)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := items(400, 4000)
	got, _ := runItems(t, ctx, openQueue(t, addr, 1, "map"), in, len(in)/3, func() {
		if err := rabbit.Restart(); err != nil {
			t.Fatal(err)
		}
	})
	if want := sequential(in, quad); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d: not the sequential run's", len(got), len(want))
	}
}

func TestQueueAddress(t *testing.T) {
	for _, addr := range []string{"amqp://127.0.0.1:1/", "amqp://127.0.0.1:1/a.b", "amqp://127.0.0.1:1"} {
		if _, err := broker.OpenQueue(context.Background(), addr, broker.QueueOptions{}); !errors.Is(err, broker.ErrBadAddress) {
			t.Errorf("%s: %v, want ErrBadAddress", addr, err)
		}
	}
}
