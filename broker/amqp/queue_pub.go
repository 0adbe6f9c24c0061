package amqp

import (
	"context"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/farpipe/farpipe/broker"
)

// confirmer publishes the work queue's messages (persistent, mandatory,
// with publisher confirms) on one channel of the queue's connection, shared
// by every goroutine of the process and opened again when it was lost.
type confirmer struct {
	c  *conn
	mu sync.Mutex // guards pc
	pc *pubChannel
}

// pubChannel is a publishing channel and the messages the broker returned
// on it (routed to no queue). A return comes before its message's
// confirmation, from the connection's reader; the publisher claims it
// after the confirmation.
type pubChannel struct {
	ch   *amqp.Channel
	rets chan amqp.Return // from the library; buffered

	mu       sync.Mutex      // guards returned
	returned map[string]bool // message ids returned and not yet claimed
}

// channel returns the publishing channel, opened again when it was lost.
func (p *confirmer) channel(ctx context.Context) (*pubChannel, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pc != nil && !p.pc.ch.IsClosed() {
		return p.pc, nil
	}
	ch, err := p.c.channel(ctx)
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("%w: publisher confirms on %s: %w", broker.ErrTransient, p.c.redacted, err)
	}
	p.pc = &pubChannel{ch: ch, rets: ch.NotifyReturn(make(chan amqp.Return, queueReturns)), returned: map[string]bool{}}
	return p.pc, nil
}

// claim reports whether the broker returned the message id.
func (pc *pubChannel) claim(id string) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for drained := false; !drained; {
		select {
		case r, ok := <-pc.rets:
			if !ok {
				drained = true
				break
			}
			if len(pc.returned) >= queueReturns { // those of publishers that gave up
				clear(pc.returned)
			}
			pc.returned[r.MessageId] = true
		default:
			drained = true
		}
	}
	ret := pc.returned[id]
	delete(pc.returned, id)
	return ret
}

// publish stores msg on queue: it returns once the broker confirmed it
// (returned false) or returned it, routed to no queue (returned true: the
// queue is gone). A message the broker did not confirm (a lost connection)
// is sent again, on a new connection if need be, for up to RetryFor: it
// may be stored twice.
func (p *confirmer) publish(ctx context.Context, queue string, msg amqp.Publishing) (returned bool, err error) {
	msg.DeliveryMode = amqp.Persistent
	err = retry(ctx, func() error {
		msg.MessageId = broker.Token()
		pc, err := p.channel(ctx)
		if err != nil {
			return err
		}
		dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, msg)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("%w: publishing to %s on %s: %w", broker.ErrTransient, queue, p.c.redacted, err)
		}
		acked, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			return context.Cause(ctx)
		case !acked:
			return fmt.Errorf("%w: %s on %s did not store a message (the connection was lost, or the broker refused it)", broker.ErrTransient, queue, p.c.redacted)
		}
		returned = pc.claim(msg.MessageId)
		return nil
	})
	return returned, err
}
