package amqp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/broker/brokertest"
)

// lineCounter counts the lines written to it and signals when it has
// seen at least want.
type lineCounter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	n     int
	waits map[int]chan struct{}
}

func (w *lineCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.n += bytes.Count(p, []byte("\n"))
	for k, c := range w.waits {
		if w.n >= k {
			close(c)
			delete(w.waits, k)
		}
	}
	return len(p), nil
}

// at returns a channel closed once n lines were written.
func (w *lineCounter) at(n int) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := make(chan struct{})
	if w.n >= n {
		close(c)
		return c
	}
	if w.waits == nil {
		w.waits = map[int]chan struct{}{}
	}
	w.waits[n] = c
	return c
}

func (w *lineCounter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// TestBrokerRestart restarts the broker mid-stream, twice, while two
// publishers publish and a durable subscriber follows: every record
// arrives exactly once, in order per publisher.
func TestBrokerRestart(t *testing.T) {
	needRabbit(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addr := newAddr()
	s := openStream(t, addr, broker.StreamConfig{})
	defer s.Close()
	const n = 30000
	ids := []string{"p0", "p1"}
	out := &lineCounter{}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	subErr := make(chan error, 1)
	go func() {
		_, err := broker.Sub(sctx, s, out, broker.SubOptions{Label: true, SubConfig: broker.SubConfig{Durable: "d", Follow: true, From: broker.FromStart}})
		subErr <- err
	}()
	var wg sync.WaitGroup
	pubErr := make(chan error, len(ids))
	failed := make(chan error, len(ids))
	for i, id := range ids {
		pr, pw := io.Pipe()
		wg.Add(2)
		go func() { // the input, in small writes, so that publishing goes on across the restarts
			defer wg.Done()
			in := brokertest.Lines(id, n, 60+40*i)
			for len(in) > 0 && ctx.Err() == nil {
				k := min(len(in), 4096)
				if _, err := pw.Write(in[:k]); err != nil {
					return
				}
				in = in[k:]
			}
			pw.Close()
		}()
		go func() {
			defer wg.Done()
			ps, err := openStreamErr(ctx, addr)
			if err == nil {
				_, err = broker.Pub(ctx, ps, pr, broker.PubConfig{ID: id, MaxMessage: 4096})
				ps.Close()
			}
			pr.CloseWithError(errors.New("pub ended"))
			pubErr <- err
			if err != nil {
				failed <- err
			}
		}()
	}
	for _, at := range []int{n / 3, n} {
		select {
		case <-out.at(at):
		case err := <-subErr:
			t.Fatalf("sub ended early: %v", err)
		case err := <-failed:
			t.Fatalf("pub: %v", err)
		case <-ctx.Done():
			var all bytes.Buffer
			st, err := broker.Sub(context.Background(), s, &all, broker.SubOptions{Label: true})
			t.Fatalf("timed out waiting for the subscriber: it has %d lines; a new reader got %d lines %+v %v", len(bytes.Split(out.bytes(), []byte("\n"))), len(bytes.Split(all.Bytes(), []byte("\n"))), st, err)
		}
		if err := rabbit.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	pubsDone := make(chan struct{})
	go func() { wg.Wait(); close(pubsDone) }()
	select {
	case <-pubsDone:
	case <-ctx.Done():
		t.Fatal("timed out waiting for the publishers")
	}
	close(pubErr)
	for err := range pubErr {
		if err != nil {
			t.Fatalf("pub: %v", err)
		}
	}
	select {
	case <-out.at(2 * n):
	case err := <-subErr:
		t.Fatalf("sub ended early: %v", err)
	case <-ctx.Done():
		t.Fatal("timed out waiting for the subscriber")
	}
	stop()
	if err := <-subErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("sub: %v", err)
	}
	if msg := brokertest.CheckLabeled(out.bytes(), ids, n); msg != "" {
		t.Fatalf("the following subscriber: %s", msg)
	}
	// A new reader from the start, and the durable one resumed, agree.
	var all bytes.Buffer
	if _, err := broker.Sub(ctx, s, &all, broker.SubOptions{Label: true}); err != nil {
		t.Fatal(err)
	}
	if msg := brokertest.CheckLabeled(all.Bytes(), ids, n); msg != "" {
		t.Fatalf("a reader from the start: %s", msg)
	}
	var rest bytes.Buffer
	if _, err := broker.Sub(ctx, s, &rest, broker.SubOptions{SubConfig: broker.SubConfig{Durable: "d"}}); err != nil || rest.Len() != 0 {
		t.Fatalf("the durable subscriber resumed read %d bytes (%v), want none", rest.Len(), err)
	}
}

func openStreamErr(ctx context.Context, addr string) (broker.Stream, error) {
	return broker.Open(ctx, addr, broker.StreamConfig{})
}
