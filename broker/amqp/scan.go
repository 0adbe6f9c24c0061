package amqp

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/farpipe/farpipe/broker"
)

// markWait bounds the wait for a mark just stored to come back.
const markWait = 30 * time.Second

// end returns the stream's end: the offset of the first message stored
// after the call began. A stream queue tells no one its length over AMQP
// 0.9.1, so end attaches a consumer at "next" and stores a mark (a message
// without records, that subscribers skip): the first message that consumer
// gets is at the end.
func (s *Stream) end(ctx context.Context) (int64, error) {
	var end int64
	err := retry(ctx, func() error {
		ch, err := s.c.channel(ctx)
		if err != nil {
			return err
		}
		defer ch.Close()
		if err := ch.Qos(1, 0, false); err != nil {
			return transient(s, err)
		}
		ds, err := ch.Consume(s.queue, "", false, false, false, false, amqp.Table{hdrOffset: "next"})
		if err != nil {
			return s.declareError(err, broker.StreamConfig{})
		}
		if err := publishWait(ctx, ch, s.queue, amqp.Publishing{Headers: amqp.Table{hdrMark: token()}, DeliveryMode: amqp.Persistent}); err != nil {
			return transient(s, err)
		}
		t := time.NewTimer(markWait)
		defer t.Stop()
		select {
		case d, ok := <-ds:
			if !ok {
				return transient(s, fmt.Errorf("the channel closed"))
			}
			off, ok := offsetOf(&d)
			if !ok {
				return fmt.Errorf("farpipe: queue %s on %s is not a stream queue: give another queue name", s.queue, s.c.redacted)
			}
			end = off
			return nil
		case <-t.C:
			return transient(s, fmt.Errorf("a mark stored did not come back within %v", markWait))
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	return end, err
}

// publishWait publishes one message on ch and waits for its confirmation.
func publishWait(ctx context.Context, ch *amqp.Channel, queue string, m amqp.Publishing) error {
	if err := ch.Confirm(false); err != nil {
		return err
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, m)
	if err != nil {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the broker did not store a message (nack)")
	}
	return nil
}

func transient(s *Stream, err error) error {
	return fmt.Errorf("%w: stream %s on %s: %w", broker.ErrTransient, s.queue, s.c.redacted, err)
}

// scan reads queue (a stream queue) from offset from ("first", or an
// int64), calling fn with each message's offset, until fn returns true. A
// lost connection is dialed again, and scan goes on after the last offset
// it gave fn.
func (s *Stream) scan(ctx context.Context, queue string, from any, fn func(off int64, d *amqp.Delivery) bool) error {
	return retry(ctx, func() error {
		ch, err := s.c.channel(ctx)
		if err != nil {
			return err
		}
		defer ch.Close()
		if err := ch.Qos(256, 0, false); err != nil {
			return transient(s, err)
		}
		ds, err := ch.Consume(queue, "", false, false, false, false, amqp.Table{hdrOffset: from})
		if err != nil {
			return s.declareError(err, broker.StreamConfig{})
		}
		for {
			select {
			case d, ok := <-ds:
				if !ok {
					return transient(s, fmt.Errorf("the channel closed while reading %s", queue))
				}
				_ = d.Ack(false)
				off, ok := offsetOf(&d)
				if !ok {
					return fmt.Errorf("farpipe: queue %s on %s is not a stream queue", queue, s.c.redacted)
				}
				if o, isOff := from.(int64); isOff && off < o {
					continue // the start of the chunk that holds from
				}
				from = off + 1
				if fn(off, &d) {
					return nil
				}
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
	})
}
