package amqp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/farpipe/farpipe/broker"
)

// subscription reads a stream queue from an offset. Over AMQP 0.9.1 a
// stream consumer's acknowledgements only give credit (the stream keeps
// every message): the subscription acknowledges a message when it hands
// it out, so that at most MaxPending wait in memory, and keeps a durable
// subscriber's place itself (state.go).
type subscription struct {
	s      *Stream
	cfg    broker.SubConfig
	start  any   // where the first attachment starts ("first", "next", an offset, a time)
	end    int64 // without Follow: the stream's end at Subscribe; -1 with Follow
	done   bool
	next   int64 // the offset after the last message taken, or -1
	ch     *amqp.Channel
	ds     <-chan amqp.Delivery
	marks  map[string]mark // each publisher's last message taken
	recs   [][]byte
	closed sync.Once

	// A durable subscriber's state; mu guards it.
	reg     string // its state queue
	mu      sync.Mutex
	acked   map[string]mark
	pending []pend // messages handed out and not yet acknowledged, by offset
	regCh   *amqp.Channel
	regLast *amqp.DeferredConfirmation
	dirty   bool // the state changed since it was last written
}

type pend struct {
	off   int64
	acked bool
}

// Subscribe implements broker.Stream.
func (s *Stream) Subscribe(ctx context.Context, cfg broker.SubConfig) (broker.Subscription, error) {
	if cfg.MaxPending == 0 {
		cfg.MaxPending = broker.DefaultMaxPending
	}
	sub := &subscription{s: s, cfg: cfg, end: -1, next: -1, marks: map[string]mark{}}
	resumed := false
	if cfg.Durable != "" {
		sub.reg = s.queue + SubSuffix + cfg.Durable
		st, ok, err := s.readState(ctx, sub.reg)
		if err != nil {
			return nil, err
		}
		if ok {
			resumed = true
			sub.start, sub.next = st.floor, st.floor
			sub.marks, sub.acked = st.marks, maps.Clone(st.marks)
		} else {
			sub.acked = map[string]mark{}
		}
	}
	if !resumed {
		switch cfg.From {
		case broker.FromStart:
			sub.start = "first"
		case broker.FromNew:
			sub.start = "next"
		case broker.FromSeq:
			off := int64(max(cfg.Seq, 1) - 1)
			sub.start, sub.next = off, off
		case broker.FromTime:
			sub.start = cfg.Time
		}
	}
	if !cfg.Follow {
		end, err := s.end(ctx)
		if err != nil {
			return nil, err
		}
		sub.end = end
		if off, ok := sub.start.(int64); ok && off >= end || sub.start == "next" {
			sub.done = true // nothing to read up to the end
		}
		if t, ok := sub.start.(time.Time); ok && t.After(time.Now()) {
			sub.done = true
		}
		if sub.done && sub.reg != "" && !resumed {
			sub.mu.Lock()
			sub.dirty = true
			sub.next = end
			sub.mu.Unlock()
		}
	}
	return sub, nil
}

// readState reads a durable subscriber's state, making its queue when it
// does not exist.
func (s *Stream) readState(ctx context.Context, reg string) (st state, ok bool, err error) {
	err = retry(ctx, func() error {
		ch, err := s.c.channel(ctx)
		if err != nil {
			return err
		}
		defer ch.Close()
		if _, err := ch.QueueDeclare(reg, true, false, false, false, amqp.Table{"x-queue-type": "classic", "x-max-length": int32(1)}); err != nil {
			return s.declareError(err, broker.StreamConfig{})
		}
		m, got, err := ch.Get(reg, false)
		if err != nil {
			return transient(s, err)
		}
		if !got {
			return nil
		}
		_ = m.Reject(true)
		if st, err = decodeState(m.Body); err != nil {
			return fmt.Errorf("%w (queue %s on %s): delete that queue to start the subscriber afresh", err, reg, s.c.redacted)
		}
		ok = true
		return nil
	})
	return st, ok, err
}

// attach starts consuming where the subscription is.
func (sub *subscription) attach(ctx context.Context) error {
	ch, err := sub.s.c.channel(ctx)
	if err != nil {
		return err
	}
	if err := ch.Qos(sub.cfg.MaxPending, 0, false); err != nil {
		ch.Close()
		return transient(sub.s, err)
	}
	from := sub.start
	if sub.next >= 0 {
		from = sub.next
	}
	ds, err := ch.Consume(sub.s.queue, "", false, false, false, false, amqp.Table{hdrOffset: from})
	if err != nil {
		ch.Close()
		return sub.s.declareError(err, broker.StreamConfig{})
	}
	sub.ch, sub.ds = ch, ds
	return nil
}

// Next implements broker.Subscription.
func (sub *subscription) Next(ctx context.Context) (broker.Delivery, error) {
	for !sub.done {
		if sub.ds == nil {
			if err := retry(ctx, func() error { return sub.attach(ctx) }); err != nil {
				return broker.Delivery{}, err
			}
		}
		var d amqp.Delivery
		var ok bool
		select {
		case d, ok = <-sub.ds:
		case <-ctx.Done():
			return broker.Delivery{}, context.Cause(ctx)
		}
		if !ok { // the connection or channel was lost: attach again after the last message taken
			_ = sub.ch.Close()
			sub.ch, sub.ds = nil, nil
			continue
		}
		_ = d.Ack(false)
		off, ok := offsetOf(&d)
		if !ok {
			return broker.Delivery{}, fmt.Errorf("farpipe: queue %s on %s is not a stream queue", sub.s.queue, sub.s.c.redacted)
		}
		if sub.next >= 0 && off < sub.next {
			continue // before the start: the chunk that holds it begins earlier
		}
		if sub.end >= 0 && off >= sub.end {
			sub.done = true
			break
		}
		if dl, ok := sub.take(off, &d); ok {
			return dl, nil
		}
	}
	sub.mu.Lock()
	sub.dirty = sub.dirty || sub.reg != ""
	sub.mu.Unlock()
	return broker.Delivery{}, io.EOF
}

// take makes the delivery of the message at off, or skips it: a mark, or
// a copy of a message taken already.
func (sub *subscription) take(off int64, d *amqp.Delivery) (broker.Delivery, bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.next = off + 1
	if d.Headers[hdrMark] != nil {
		sub.dirty = sub.reg != ""
		return broker.Delivery{}, false
	}
	pub, _ := d.Headers[hdrPublisher].(string)
	var m mark
	keyed := false
	if h, recs, err := broker.Unpack(d.Body, sub.recs[:0]); err == nil && pub != "" {
		sub.recs = recs[:0]
		m, keyed = mark{key: key{h.Rec, h.Off}, at: off}, true
		if old, ok := sub.marks[pub]; ok && !old.less(m.key) {
			sub.dirty = sub.reg != ""
			return broker.Delivery{}, false // sent twice: taken already
		}
		setMark(sub.marks, pub, m)
	}
	if sub.reg != "" {
		sub.pending = append(sub.pending, pend{off: off})
	}
	return broker.Delivery{
		Data:      d.Body,
		Publisher: pub,
		Pos:       uint64(off) + 1,
		Ack: func(ctx context.Context) error {
			if sub.reg == "" {
				return nil
			}
			return sub.ack(ctx, off, pub, m, keyed)
		},
	}, true
}

// ack records a durable subscriber's message as written and stores the
// state (without waiting for the broker's confirmation: Close waits for
// the last one).
func (sub *subscription) ack(ctx context.Context, off int64, pub string, m mark, keyed bool) error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for i := range sub.pending {
		if sub.pending[i].off == off {
			sub.pending[i].acked = true
			break
		}
	}
	i := 0
	for i < len(sub.pending) && sub.pending[i].acked {
		i++
	}
	sub.pending = sub.pending[i:]
	if keyed {
		if old, ok := sub.acked[pub]; !ok || old.less(m.key) {
			setMark(sub.acked, pub, m)
		}
	}
	sub.dirty = true
	return sub.store(ctx, false)
}

// store publishes the state when it changed; with wait, it waits for the
// confirmation. sub.mu is held.
func (sub *subscription) store(ctx context.Context, wait bool) error {
	if !sub.dirty {
		return nil
	}
	floor := sub.next
	if len(sub.pending) > 0 {
		floor = sub.pending[0].off
	}
	if floor < 0 {
		return nil // nothing taken yet
	}
	body := state{floor: floor, marks: sub.acked}.encode(nil)
	if sub.regCh == nil || sub.regCh.IsClosed() {
		ch, err := sub.s.c.channel(ctx)
		if err != nil {
			return err
		}
		if err := ch.Confirm(false); err != nil {
			ch.Close()
			return transient(sub.s, err)
		}
		sub.regCh = ch
	}
	dc, err := sub.regCh.PublishWithDeferredConfirmWithContext(ctx, "", sub.reg, false, false, amqp.Publishing{Body: body, DeliveryMode: amqp.Persistent})
	if err != nil {
		return transient(sub.s, err)
	}
	sub.regLast, sub.dirty = dc, false
	if !wait {
		return nil
	}
	ok, err := dc.WaitContext(ctx)
	if err == nil && !ok {
		err = errors.New("the broker did not store it")
	}
	if err != nil {
		sub.dirty = true
		return transient(sub.s, err)
	}
	return nil
}

// Close implements broker.Subscription: a durable subscriber's state is
// stored (retried for a while when the broker is away).
func (sub *subscription) Close() error {
	var err error
	sub.closed.Do(func() {
		if sub.ch != nil {
			_ = sub.ch.Close()
		}
		if sub.reg == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		sub.mu.Lock()
		defer sub.mu.Unlock()
		if sub.regLast != nil {
			if ok, werr := sub.regLast.WaitContext(ctx); werr != nil || !ok {
				sub.dirty = true
			}
		}
		err = retry(ctx, func() error { return sub.store(ctx, true) })
		if sub.regCh != nil {
			_ = sub.regCh.Close()
		}
		if err != nil {
			err = fmt.Errorf("farpipe: storing the place of subscriber %s: %w: it may write some records again when restarted", sub.cfg.Durable, err)
		}
	})
	return err
}
