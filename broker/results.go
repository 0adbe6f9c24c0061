package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Results is the part of a Submission every queue driver shares: it
// remembers the items put, hands the first result of each to Result once
// (later results of an item that ran twice are closed and dropped), and
// keeps why the driver's reader of results stopped. A driver calls Expect
// in Put (Forget when the put failed), Deliver for each result it reads,
// Wait in Result, and Stop once when its reader ends. Its methods are safe
// for concurrent use; it takes only its own lock.
type Results struct {
	queue string        // the queue's name, for messages
	done  chan struct{} // closed by Stop

	mu      sync.Mutex
	waiting map[string]*resultWaiter // items put and not yet answered
	failed  error                    // why the reader stopped
}

// resultWaiter is an item waiting for its result.
type resultWaiter struct {
	ch  chan *WorkResult // one result, buffered
	got bool             // a result was handed out: drop the others
}

// NewResults returns the bookkeeping of a run on the queue named queue.
func NewResults(queue string) *Results {
	return &Results{queue: queue, done: make(chan struct{}), waiting: map[string]*resultWaiter{}}
}

// Expect notes that the item id was put, or returns why results can no
// longer be read.
func (r *Results) Expect(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed != nil {
		return r.failed
	}
	r.waiting[id] = &resultWaiter{ch: make(chan *WorkResult, 1)}
	return nil
}

// Forget drops the item id: its put failed, or its result was taken.
func (r *Results) Forget(id string) {
	r.mu.Lock()
	delete(r.waiting, id)
	r.mu.Unlock()
}

// Deliver hands res to its item's Wait if it is the item's first result;
// otherwise it closes res's output. readErr, when not nil, is why res could
// not be read whole: its output then fails with it.
func (r *Results) Deliver(res *WorkResult, readErr error) {
	r.mu.Lock()
	w := r.waiting[res.ID]
	first := w != nil && !w.got
	if first {
		w.got = true // later results of the item are dropped
	}
	r.mu.Unlock()
	if readErr != nil {
		res.Output = io.NopCloser(errReader{readErr})
	}
	if !first {
		res.Output.Close() // a second run of an item, or one given up
		return
	}
	w.ch <- res // never blocks: one per item, buffered
}

// Wait waits for the first result of the item id, once.
func (r *Results) Wait(ctx context.Context, id string) (*WorkResult, error) {
	r.mu.Lock()
	w := r.waiting[id]
	r.mu.Unlock()
	if w == nil {
		return nil, fmt.Errorf("farpipe: queue %s: no item %s was put, or its result was taken", r.queue, id)
	}
	defer r.Forget(id)
	select {
	case res := <-w.ch:
		return res, nil
	case <-r.done:
		select { // a result that came before the reader stopped
		case res := <-w.ch:
			return res, nil
		default:
		}
		r.mu.Lock()
		err := r.failed
		r.mu.Unlock()
		return nil, err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// Stop records why the driver's reader of results ended (err, not nil)
// and wakes every Wait. Call it once.
func (r *Results) Stop(err error) {
	r.mu.Lock()
	r.failed = err
	r.mu.Unlock()
	close(r.done)
}

// Done is closed once Stop was called.
func (r *Results) Done() <-chan struct{} { return r.done }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Token returns a random token for a queue driver's run, subject or id
// names: 20 hexadecimal digits.
func Token() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// OneLine makes s fit a message header's value: line breaks become spaces,
// and it is cut to 2000 bytes.
func OneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 2000 {
		s = s[:2000]
	}
	return s
}
