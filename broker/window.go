package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// window keeps the messages a publisher sent and the broker has not yet
// confirmed: at most max of them, so that a message the broker did not
// confirm (ErrTransient) can be sent again, in order, with its id.
//
// The driver's acknowledgement callbacks run on its goroutines; everything
// else on the publishing goroutine. mu guards the fields below it.
type window struct {
	p        Publisher
	max      int
	retryFor time.Duration
	changed  chan struct{} // a callback ran (capacity 1)

	mu         sync.Mutex
	entries    []*entry // in the order sent, until confirmed
	unresolved int      // entries waiting for their callback
	failed     int      // entries whose callback reported an error
	records    uint64   // stored
	messages   uint64
	bytes      uint64
}

type entry struct {
	m      Message
	after  uint64
	rec    uint64 // index of its first record
	nrec   int    // whole records it completes
	nbytes int
	pos    uint64 // where it is stored
	state  int    // pending, stored or failed
	err    error
}

const (
	pending = iota
	stored
	failed
)

func newWindow(p Publisher, cfg PubConfig) *window {
	return &window{p: p, max: cfg.MaxInFlight, retryFor: cfg.RetryFor, changed: make(chan struct{}, 1)}
}

// publish sends a message, after waiting for room and recovering from
// failures of earlier ones.
func (w *window) publish(ctx context.Context, m Message, after, rec uint64, nrec, nbytes int) error {
	for {
		w.mu.Lock()
		w.prune()
		room, bad := w.unresolved < w.max && len(w.entries) < 4*w.max, w.failed > 0
		w.mu.Unlock()
		if bad {
			if err := w.recover(ctx); err != nil {
				return err
			}
			continue
		}
		if room {
			break
		}
		if err := w.wait(ctx); err != nil {
			return err
		}
	}
	e := &entry{m: m, after: after, rec: rec, nrec: nrec, nbytes: nbytes}
	w.mu.Lock()
	w.entries = append(w.entries, e)
	w.mu.Unlock()
	w.send(ctx, e)
	return nil
}

// send hands e to the driver; the caller appended it to entries.
func (w *window) send(ctx context.Context, e *entry) {
	w.mu.Lock()
	e.state = pending
	w.unresolved++
	w.mu.Unlock()
	err := w.p.Publish(ctx, e.m, e.after, func(pos uint64, err error) { w.resolve(e, pos, err) })
	if err != nil {
		w.resolve(e, 0, err)
	}
}

func (w *window) resolve(e *entry, pos uint64, err error) {
	w.mu.Lock()
	if e.state == pending {
		w.unresolved--
		if err == nil {
			e.state, e.pos = stored, pos
			w.records += uint64(e.nrec)
			w.messages++
			w.bytes += uint64(e.nbytes)
		} else {
			e.state, e.err = failed, err
			w.failed++
		}
	}
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *window) wait(ctx context.Context) error {
	select {
	case <-w.changed:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// prune drops the stored entries before the first that is not; later
// stored ones stay, to be removed if an earlier one is refused. w.mu is
// held.
func (w *window) prune() {
	i := 0
	for i < len(w.entries) && w.entries[i].state == stored {
		i++
	}
	n := copy(w.entries, w.entries[i:])
	clear(w.entries[n:])
	w.entries = w.entries[:n]
}

// recover waits for every callback, then sends the failed messages again
// in order, until all are stored, an error is not transient, or retryFor
// has passed since the first failure.
func (w *window) recover(ctx context.Context) error {
	begin := time.Now()
	backoff := 50 * time.Millisecond
	for {
		w.mu.Lock()
		busy := w.unresolved > 0
		w.mu.Unlock()
		if busy {
			if err := w.wait(ctx); err != nil {
				return err
			}
			continue
		}
		w.mu.Lock()
		w.prune()
		var again []*entry
		var first *entry
		for i, e := range w.entries {
			if e.state == failed {
				if first == nil {
					first = e
				}
				if !errors.Is(e.err, ErrTransient) {
					later := w.entries[i+1:]
					w.mu.Unlock()
					return w.refused(ctx, e, later)
				}
				again = append(again, e)
			}
		}
		w.failed = 0
		w.mu.Unlock()
		if len(again) == 0 {
			return nil
		}
		if time.Since(begin) > w.retryFor {
			return fmt.Errorf("farpipe: the broker did not confirm messages for %v: %w", w.retryFor, fullError(first.m.Publisher, first.rec, first.err))
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
		backoff = min(2*backoff, 2*time.Second)
		for _, e := range again {
			w.send(ctx, e)
		}
	}
}

// refused ends publishing after the broker refused e: the messages after
// it that were stored are removed, so that the stream holds the input up
// to e's first record.
func (w *window) refused(ctx context.Context, e *entry, later []*entry) error {
	removed := 0
	for _, l := range later {
		if l.state != stored {
			continue
		}
		if err := w.p.Remove(ctx, l.pos); err != nil {
			return fmt.Errorf("%w; and a later message could not be removed (%v): the stream holds a gap before it", fullError(e.m.Publisher, e.rec, e.err), err)
		}
		w.mu.Lock()
		w.records -= uint64(l.nrec)
		w.messages--
		w.bytes -= uint64(l.nbytes)
		w.mu.Unlock()
		removed++
	}
	return fullError(e.m.Publisher, e.rec, e.err)
}

// drain waits until every message sent is stored.
func (w *window) drain(ctx context.Context) error {
	for {
		w.mu.Lock()
		busy, bad := w.unresolved > 0, w.failed > 0
		w.mu.Unlock()
		switch {
		case bad:
			if err := w.recover(ctx); err != nil {
				return err
			}
		case busy:
			if err := w.wait(ctx); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (w *window) counts() (records, messages, bytes uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.records, w.messages, w.bytes
}
