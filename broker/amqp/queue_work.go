package amqp

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/farpipe/farpipe/broker"
)

// queueWork is an item a worker took, unacked on the consumer's channel
// until Finish or GiveBack settles it.
type queueWork struct {
	q    *workQueue
	ctx  context.Context
	d    amqp.Delivery
	run  string
	item broker.WorkItem

	buf   []byte // output not yet stored
	parts int    // parts stored
	token string // the parts queue's token, once it is made

	once sync.Once // the settlement
}

func (w *queueWork) Item() broker.WorkItem { return w.item }

// Progress does nothing: RabbitMQ gives an item to another worker only
// when its worker's channel or connection closes (or after the broker's
// consumer_timeout).
func (w *queueWork) Progress() error { return nil }

// GiveBack puts the item back on the queue (a NACK with requeue).
func (w *queueWork) GiveBack() error {
	w.settle(func() error { return w.d.Nack(false, true) })
	w.dropParts()
	return nil
}

// settle acks or nacks the item, once; after a lost channel it fails (the
// broker gave the item back already).
func (w *queueWork) settle(fn func() error) (err error) {
	w.once.Do(func() {
		w.buf = nil
		err = fn()
	})
	return err
}

// dropParts deletes the parts queue of an output that will not be a result.
func (w *queueWork) dropParts() {
	if w.token != "" {
		deleteQueue(w.q.c, w.q.name+PartsSuffix+w.token)
		w.token = ""
	}
}

// deleteQueue deletes a queue, trying once for up to 10 s.
func deleteQueue(c *conn, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := c.channel(ctx)
	if err != nil {
		return
	}
	defer ch.Close()
	_, _ = ch.QueueDelete(name, false, false, false)
}

// Write keeps the output, storing it in parts of a message each when it
// does not fit in one.
func (w *queueWork) Write(p []byte) (int, error) {
	n, max := 0, w.q.MaxItem()
	for len(p) > 0 {
		if len(w.buf) == max {
			if err := w.storePart(); err != nil {
				return n, err
			}
		}
		k := min(len(p), max-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
	}
	return n, nil
}

// storePart stores buf as the next part, in the parts queue (made for the
// first).
func (w *queueWork) storePart() error {
	if w.token == "" {
		token := broker.Token()
		name := w.q.name + PartsSuffix + token
		if err := retry(w.ctx, func() error { return w.q.declare(w.ctx, name, queuePartsExpire, false) }); err != nil {
			return fmt.Errorf("farpipe: queue %s: storing part of a result: %w", w.q.name, err)
		}
		w.token = token
	}
	h := amqp.Table{hdrQPart: strconv.Itoa(w.parts)}
	returned, err := w.q.pub.publish(w.ctx, w.q.name+PartsSuffix+w.token, amqp.Publishing{Headers: h, Body: w.buf})
	if err == nil && returned {
		err = fmt.Errorf("its parts queue is gone")
	}
	if err != nil {
		return fmt.Errorf("farpipe: queue %s: storing part of a result: %w", w.q.name, err)
	}
	w.parts++
	w.buf = w.buf[:0] // published: the library keeps no reference
	return nil
}

// Finish stores the result, then acks the item. A result the broker
// returns (the run was closed: no results queue) is dropped with the item.
func (w *queueWork) Finish(ctx context.Context, st broker.WorkStatus) error {
	if w.parts > 0 && len(w.buf) > 0 {
		if err := w.storePart(); err != nil {
			return err
		}
	}
	h := amqp.Table{
		hdrQID:     w.item.ID,
		hdrQStatus: strconv.Itoa(st.Code),
		hdrQNote:   broker.OneLine(st.Note),
		hdrQWorker: broker.OneLine(w.q.opts.Worker),
		hdrQParts:  strconv.Itoa(w.parts),
	}
	body := w.buf
	if w.parts > 0 {
		h[hdrQToken], body = w.token, nil
	}
	returned, err := w.q.pub.publish(ctx, w.q.resultsQueue(w.run), amqp.Publishing{Headers: h, Body: body})
	if err != nil {
		return fmt.Errorf("farpipe: queue %s: storing a result: %w", w.q.name, err)
	}
	if returned {
		w.dropParts()
		w.forget()
	}
	w.token = "" // the parts are the result's now: GiveBack keeps them
	if w.q.beforeAck != nil {
		w.q.beforeAck()
	}
	if err := w.settle(func() error { return w.d.Ack(false) }); err != nil {
		return fmt.Errorf("farpipe: queue %s: the result is stored but the item could not be taken off the queue (it will run again, and its second result be dropped): %w", w.q.name, err)
	}
	return nil
}

// forget notes that the item's run was closed: its other items are
// dropped without running.
func (w *queueWork) forget() {
	w.q.runMu.Lock()
	w.q.runs[w.run] = false
	w.q.runMu.Unlock()
}
