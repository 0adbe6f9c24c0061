package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	stored   func(records, bytes int) // PubConfig.Stored, or nil
	changed  chan struct{}            // a callback ran (capacity 1)

	mu         sync.Mutex
	entries    []*entry // in the order sent, until confirmed
	unresolved int      // entries waiting for their callback
	failed     int      // entries whose callback reported an error
	floor      uint64   // the position of the last message stored in order
	gen        int      // how many times the entries were sent again
	sent       uint64   // messages handed to the driver so far
	disorder   bool     // the broker stored messages out of the order sent
	free       [][]byte // buffers of confirmed messages, for new ones
	records    uint64   // stored
	messages   uint64
	bytes      uint64
}

type entry struct {
	m      Message
	id     string // m.ID as first sent
	after  uint64
	rec    uint64 // index of its first record
	nrec   int    // whole records it completes
	nbytes int
	pos    uint64 // where it is stored
	seq    uint64 // w.sent when it was sent
	acked  uint64 // w.sent when its confirmation came
	state  int    // pending, stored or failed
	err    error
}

const (
	pending = iota
	stored
	failed
)

func newWindow(p Publisher, cfg PubConfig) *window {
	return &window{p: p, max: cfg.MaxInFlight, retryFor: cfg.RetryFor, stored: cfg.Stored, changed: make(chan struct{}, 1)}
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
	e := &entry{m: m, id: m.ID, after: after, rec: rec, nrec: nrec, nbytes: nbytes}
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
	w.sent++
	e.seq = w.sent
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
			e.state, e.pos, e.acked = stored, pos, w.sent
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

// prune drops the front entries that are stored in order, and advances
// floor. A broker may store messages in another order than they were sent
// (JetStream does, rarely, while a cluster elects a stream leader): an
// entry is dropped only when every entry sent before its confirmation came
// is stored too, after it; any one stored before it sets disorder (and
// counts as a failure), so that recover puts the stream in order again.
// Later entries stay, to be removed if an earlier one fails. w.mu is held.
func (w *window) prune() {
	i := 0
	for ; i < len(w.entries) && w.entries[i].state == stored; i++ {
		e := w.entries[i]
		if e.pos <= w.floor {
			w.disorder = true
			break
		}
		ok := true
		for _, l := range w.entries[i+1:] {
			if l.seq > e.acked { // sent after e's confirmation came: stored after e
				break
			}
			if l.state == failed && !errors.Is(l.err, ErrTransient) {
				continue // refused: not stored anywhere
			}
			if l.state != stored {
				ok = false // not yet known to be after e
				break
			}
			if l.pos < e.pos {
				w.disorder = true
				ok = false
				break
			}
		}
		if !ok {
			break
		}
		w.floor = e.pos
	}
	if w.disorder && w.failed == 0 {
		w.failed++
	}
	for _, e := range w.entries[:i] {
		if w.stored != nil { // stored for good: never truncated now
			w.stored(e.nrec, e.nbytes)
		}
		if len(w.free) < w.max && cap(e.m.Data) > 0 {
			w.free = append(w.free, e.m.Data[:0])
		}
	}
	n := copy(w.entries, w.entries[i:])
	clear(w.entries[n:])
	w.entries = w.entries[:n]
}

// recover waits for every callback, then, when a message failed, removes
// from the stream the messages stored after the last one stored in order
// (so that the stream holds the records in order) and sends them all again
// in order with new ids, until all are stored, an error is not transient,
// or retryFor has passed without progress.
func (w *window) recover(ctx context.Context) error {
	begin := time.Now()
	backoff := 10 * time.Millisecond
	var floor uint64
	for {
		if err := w.settle(ctx); err != nil {
			return err
		}
		w.mu.Lock()
		w.prune()
		if w.floor != floor { // progress: wait less
			floor = w.floor
			begin, backoff = time.Now(), 10*time.Millisecond
		}
		var first *entry
		for _, e := range w.entries {
			if e.state == failed {
				first = e
				break
			}
		}
		if first == nil && w.disorder && len(w.entries) > 0 {
			first = w.entries[0]
			first.err = fmt.Errorf("%w: the broker stored messages out of order", ErrTransient)
		}
		w.disorder = false
		w.failed = 0
		w.mu.Unlock()
		if first == nil {
			return nil
		}
		if errors.Is(first.err, ErrConflict) { // the later messages may be another's
			return fullError(first.m.Publisher, first.rec, first.err)
		}
		if !errors.Is(first.err, ErrTransient) {
			if err := w.truncate(ctx); err != nil {
				return fmt.Errorf("%w; and the later messages could not be removed (%v): the stream may hold some of them", fullError(first.m.Publisher, first.rec, first.err), err)
			}
			return fullError(first.m.Publisher, first.rec, first.err)
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
		if kept, err := w.keepStored(ctx); err != nil || kept {
			if err != nil && !errors.Is(err, ErrTransient) {
				return err
			}
			if err != nil {
				first.err = err
			}
			w.mu.Lock()
			w.failed++ // look again: what was kept is pruned, the rest sent again
			w.mu.Unlock()
			continue
		}
		if err := w.truncate(ctx); err != nil {
			if errors.Is(err, ErrTransient) {
				first.err = err
				w.mu.Lock()
				w.failed++ // try again
				w.mu.Unlock()
				continue
			}
			return err
		}
		w.resend(ctx)
	}
}

// settle waits until every message sent has had its callback.
func (w *window) settle(ctx context.Context) error {
	for {
		w.mu.Lock()
		busy := w.unresolved > 0
		w.mu.Unlock()
		if !busy {
			return nil
		}
		if err := w.wait(ctx); err != nil {
			return err
		}
	}
}

// keepStored asks the driver (a StoredLister) which messages of this
// publisher the stream holds after floor. When they are the first entries,
// with the ids they were last sent with, in the order sent, and positions
// that rise, their confirmations were lost, not the messages: they are
// marked stored, so that recover sends again only the rest and removes
// nothing (a subscriber reading live saw them once). It says whether it
// kept any. No message is in flight.
func (w *window) keepStored(ctx context.Context) (bool, error) {
	l, ok := w.p.(StoredLister)
	if !ok {
		return false, nil
	}
	w.mu.Lock()
	floor, n := w.floor, len(w.entries)
	w.mu.Unlock()
	got, err := l.StoredAfter(ctx, floor, n)
	if err != nil || len(got) == 0 || len(got) > n {
		return false, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.entries) != n {
		return false, nil
	}
	prev := floor
	for i, e := range w.entries {
		if i >= len(got) {
			if e.state == stored { // confirmed, yet not in the stream after floor
				return false, nil
			}
			continue
		}
		g := got[i]
		if g.ID != e.m.ID || g.Pos <= prev || e.state == stored && e.pos != g.Pos {
			return false, nil
		}
		prev = g.Pos
	}
	for i, g := range got {
		e := w.entries[i]
		if e.state == failed {
			w.records += uint64(e.nrec)
			w.messages++
			w.bytes += uint64(e.nbytes)
		}
		// Confirmed at once, as far as order goes: its position was read.
		e.state, e.pos, e.err, e.acked = stored, g.Pos, nil, e.seq
	}
	return true, nil
}

// truncate removes the messages stored after the last one in order, and
// takes them off the counts. No message is in flight.
func (w *window) truncate(ctx context.Context) error {
	w.mu.Lock()
	floor := w.floor
	w.mu.Unlock()
	if err := w.p.Truncate(ctx, floor); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.entries {
		if e.state == stored {
			e.state = failed
			w.records -= uint64(e.nrec)
			w.messages--
			w.bytes -= uint64(e.nbytes)
		}
	}
	return nil
}

// resend sends every entry again, in order, with new ids: those that were
// removed from the stream would be taken for duplicates under their old
// ones. No message is in flight.
func (w *window) resend(ctx context.Context) {
	w.mu.Lock()
	w.gen++
	again := slices.Clone(w.entries)
	for i, e := range again {
		e.m.ID = e.id + "-" + strconv.Itoa(w.gen)
		e.after = 0
		if i == 0 {
			e.after = w.floor
		}
	}
	w.mu.Unlock()
	for _, e := range again {
		w.send(ctx, e)
	}
}

// drain waits until every message sent is stored.
func (w *window) drain(ctx context.Context) error {
	for {
		w.mu.Lock()
		w.prune()
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

// buffer returns an empty buffer of capacity n: a confirmed message's,
// or a new one.
func (w *window) buffer(n int) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.free) > 0 {
		b := w.free[len(w.free)-1]
		w.free = w.free[:len(w.free)-1]
		if cap(b) >= n {
			return b
		}
	}
	return make([]byte, 0, n)
}

func (w *window) counts() (records, messages, bytes uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.records, w.messages, w.bytes
}
