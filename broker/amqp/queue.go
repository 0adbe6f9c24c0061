package amqp

// The work queues of package broker on RabbitMQ. A queue QUEUE is, on the
// broker (every queue durable, quorum type, messages persistent):
//
//	QUEUE                          the items of every run; no expiry
//	QUEUE.farpipe-results.RUN      one run's results; made by Submit, deleted by Close, x-expires 1 h
//	QUEUE.farpipe-part.TOKEN       one result's output in parts, when larger than a message; x-expires 24 h
//
// A Submission (one map run, id RUN) publishes each item to QUEUE (headers
// farpipe-run, farpipe-id, farpipe-meta-KEY) and consumes its results
// queue. The workers of a process share one consumer on QUEUE with a
// prefetch of QueueOptions.Slots (manual acks), so that the broker pushes
// a worker no more items than it has slots. A worker runs the command,
// publishes the result to the run's results queue (publisher confirms,
// mandatory: a run that was closed has no results queue, and the broker
// returns the result), and only then acks the item. An output larger
// than a message goes first, a message at a time, each confirmed before
// the next is read from the command, to a parts queue of its own, which
// the result names and map reads (basic.get) as it writes it out, then
// deletes. The broker gives the items of a worker whose connection or
// channel closed to other workers at once (kill -9: the kernel closes the
// socket; a network cut: missed heartbeats, 10 s apart). A lost connection
// is dialed again (backoff 50 ms to 2 s); publishes that were not
// confirmed are sent again, so an item or a result may be stored twice:
// the Submission hands out the first result of each item only. An item
// delivered queueCopyAt times (a chunk whose workers keep dying) is put
// back as a new message and the old one acked, so that a quorum queue's
// delivery limit (20 by default from RabbitMQ 4.0) never drops it.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/farpipe/farpipe/broker"
)

func init() {
	broker.RegisterQueue("amqp", OpenQueue)
	broker.RegisterQueue("amqps", OpenQueue)
}

// Names and settings of the work queues.
const (
	// ResultsSuffix names a run's results queue: QUEUE.farpipe-results.RUN.
	ResultsSuffix = ".farpipe-results."
	// PartsSuffix names the queue of a result's parts: QUEUE.farpipe-part.TOKEN.
	PartsSuffix = ".farpipe-part."
	// queueMessage is the largest message the queue publishes (RabbitMQ
	// takes 16 MiB by default from 4.0, 128 MiB before).
	queueMessage = 4 << 20
	// queueHeadroom is what a message keeps free for its headers.
	queueHeadroom = 64 << 10
	// queueResultsExpire deletes a results queue unused for this long (its
	// map died); a live map consumes it all the time.
	queueResultsExpire = time.Hour
	// queuePartsExpire deletes a parts queue unused for this long (its
	// map died, or its worker before it finished the result).
	queuePartsExpire = 24 * time.Hour
	// queueCopyAt is the delivery count at which a taken item is put back
	// as a new message.
	queueCopyAt = 5
	// queueReturns bounds the returned messages a publishing channel holds.
	queueReturns = 4096
)

// Message headers of the work queue.
const (
	hdrQRun    = "farpipe-run"
	hdrQID     = "farpipe-id"
	hdrQStatus = "farpipe-status"
	hdrQNote   = "farpipe-note"
	hdrQWorker = "farpipe-worker"
	hdrQParts  = "farpipe-parts" // the number of parts of a result
	hdrQToken  = "farpipe-token" // the parts queue's token
	hdrQPart   = "farpipe-part"  // a part's index, from 0
	hdrQMeta   = "farpipe-meta-"
	hdrQCount  = "x-delivery-count" // set by a quorum queue on a delivery again
)

// ErrQueueProtocol: a message on the queue's queues is not what farpipe
// puts there.
var ErrQueueProtocol = errors.New("farpipe: unexpected message on the RabbitMQ work queue")

// workQueue is a broker.Queue on a RabbitMQ broker: one connection,
// dialed again when lost. Its locks (consMu, runMu, and the confirmer's)
// are never held together.
type workQueue struct {
	c    *conn
	name string
	opts broker.QueueOptions
	pub  *confirmer

	consMu sync.Mutex
	cons   *consumer // the workers' consumer, made by the first Take

	runMu sync.Mutex
	runs  map[string]bool // whether a run's results queue exists

	beforeAck func() // tests: called by Finish between the result and the ack
}

// consumer is the channel on which the workers of a process consume the
// items; the items it delivered are acked on it.
type consumer struct {
	ch   *amqp.Channel
	dels <-chan amqp.Delivery
	made time.Time
}

// OpenQueue opens the queue at addr, amqp[s]://[USER:PASS@]HOST[:PORT][/VHOST]/QUEUE,
// declaring it when it does not exist.
func OpenQueue(ctx context.Context, addr string, opts broker.QueueOptions) (broker.Queue, error) {
	uri, name, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	if opts.Worker == "" {
		host, _ := os.Hostname()
		opts.Worker = host + ":" + strconv.Itoa(os.Getpid())
	}
	opts.Slots = max(opts.Slots, 1)
	c := &conn{uri: uri, redacted: redact(addr)}
	q := &workQueue{c: c, name: name, opts: opts, pub: &confirmer{c: c}, runs: map[string]bool{}}
	if err := retry(ctx, func() error { return q.declare(ctx, name, 0, true) }); err != nil {
		c.close()
		return nil, err
	}
	return q, nil
}

// declare makes the queue name (quorum, durable; x-expires when expire is
// set) once: when passive, an existing queue is kept as it is, whoever made
// it and however. It tries once.
func (q *workQueue) declare(ctx context.Context, name string, expire time.Duration, passive bool) error {
	if passive {
		ch, err := q.c.channel(ctx)
		if err != nil {
			return err
		}
		_, err = ch.QueueDeclarePassive(name, true, false, false, false, nil)
		_ = ch.Close() // a failed passive declare closed it already
		if err == nil || !isCode(err, amqp.NotFound) {
			return q.declareError(name, err)
		}
	}
	args := amqp.Table{"x-queue-type": "quorum"}
	if q.opts.Replicas > 1 {
		args["x-quorum-initial-group-size"] = int32(q.opts.Replicas)
	}
	if expire > 0 {
		args["x-expires"] = int32(expire.Milliseconds())
	}
	ch, err := q.c.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	_, err = ch.QueueDeclare(name, true, false, false, false, args)
	return q.declareError(name, err)
}

// declareError says what a failed declaration means; nil stays nil.
func (q *workQueue) declareError(name string, err error) error {
	var ae *amqp.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed:
		return fmt.Errorf("farpipe: the broker %s has a queue %s with other settings (%s): give the work queue another name", q.c.redacted, name, ae.Reason)
	case errors.As(err, &ae) && ae.Code == amqp.AccessRefused:
		return fmt.Errorf("farpipe: the broker %s refused queue %s (%s): check the user's permissions on the vhost", q.c.redacted, name, ae.Reason)
	}
	return fmt.Errorf("%w: declaring queue %s on %s: %w", broker.ErrTransient, name, q.c.redacted, err)
}

// isCode reports whether err is the broker's error code.
func isCode(err error, code int) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == code
}

func (q *workQueue) MaxItem() int { return queueMessage - queueHeadroom }

// Close closes the connection: the items this process took and did not
// finish go back to the queue.
func (q *workQueue) Close() error {
	q.c.close()
	return nil
}

// Depth returns how many items wait on the queue, taken by no worker: a
// passive declaration. (The metrics of worker ask for it.)
func (q *workQueue) Depth(ctx context.Context) (uint64, error) {
	ch, err := q.c.channel(ctx)
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	st, err := ch.QueueDeclarePassive(q.name, true, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("farpipe: queue %s: %w", q.name, err)
	}
	return uint64(max(st.Messages, 0)), nil
}

func (q *workQueue) resultsQueue(run string) string { return q.name + ResultsSuffix + run }

// consumer returns the workers' consumer, consuming again when it was
// lost (a new connection when that was lost too).
func (q *workQueue) consumer(ctx context.Context) (*consumer, error) {
	q.consMu.Lock()
	defer q.consMu.Unlock()
	if q.cons != nil {
		return q.cons, nil
	}
	err := retry(ctx, func() error {
		ch, err := q.c.channel(ctx)
		if err != nil {
			return err
		}
		if err := ch.Qos(q.opts.Slots, 0, false); err != nil {
			ch.Close()
			return fmt.Errorf("%w: queue %s on %s: %w", broker.ErrTransient, q.name, q.c.redacted, err)
		}
		dels, err := ch.Consume(q.name, "farpipe-worker-"+broker.Token(), false, false, false, false, nil)
		if err != nil {
			ch.Close()
			if isCode(err, amqp.NotFound) { // deleted: make it again
				if err := q.declare(ctx, q.name, 0, false); err != nil {
					return err
				}
			}
			return fmt.Errorf("%w: queue %s on %s: consuming: %w", broker.ErrTransient, q.name, q.c.redacted, err)
		}
		q.cons = &consumer{ch: ch, dels: dels, made: time.Now()}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("farpipe: queue %s: taking an item: %w", q.name, err)
	}
	return q.cons, nil
}

// lost forgets the consumer cs, whose channel closed (a lost connection, or
// the broker's consumer_timeout): its unacked items went back to the
// queue. A consumer lost at once waits a little, not to spin.
func (q *workQueue) lost(ctx context.Context, cs *consumer) {
	q.consMu.Lock()
	if q.cons == cs {
		q.cons = nil
	}
	q.consMu.Unlock()
	_ = cs.ch.Close()
	if time.Since(cs.made) < time.Second {
		t := time.NewTimer(200 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// Take waits for an item.
func (q *workQueue) Take(ctx context.Context) (broker.Work, error) {
	for {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		cs, err := q.consumer(ctx)
		if err != nil {
			return nil, err
		}
		select {
		case d, ok := <-cs.dels:
			if !ok {
				q.lost(ctx, cs)
				continue
			}
			w, err := q.work(ctx, d)
			if w != nil || err != nil {
				return w, err
			}
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// work makes the Work of a delivered item, or settles an item that is not
// to run here and returns nil.
func (q *workQueue) work(ctx context.Context, d amqp.Delivery) (*queueWork, error) {
	if _, ok := d.Headers[hdrOffset]; ok {
		_ = d.Nack(false, true)
		return nil, fmt.Errorf("%w: queue %s on %s is a RabbitMQ stream (farpipe pub and sub), not a work queue: give the work queue another name", ErrQueueProtocol, q.name, q.c.redacted)
	}
	run, _ := d.Headers[hdrQRun].(string)
	id, _ := d.Headers[hdrQID].(string)
	switch {
	case !tokenOK(run) || id == "":
		_ = d.Reject(false) // not ours: never run it
		return nil, nil
	case !q.runOpen(ctx, run):
		_ = d.Ack(false) // its run was closed
		return nil, nil
	case deliveryCount(d) >= queueCopyAt:
		q.copyItem(ctx, d)
		return nil, nil
	}
	item := broker.WorkItem{ID: id, Data: d.Body, Meta: map[string]string{}}
	for k, v := range d.Headers {
		if key, ok := strings.CutPrefix(k, hdrQMeta); ok {
			if s, ok := v.(string); ok {
				item.Meta[key] = s
			}
		}
	}
	return &queueWork{q: q, ctx: ctx, d: d, run: run, item: item}, nil
}

// copyItem puts a copy of the item d at the end of the queue, then acks d:
// a fresh message, delivered for the first time.
func (q *workQueue) copyItem(ctx context.Context, d amqp.Delivery) {
	h := amqp.Table{}
	for k, v := range d.Headers {
		if !strings.HasPrefix(k, "x-") {
			h[k] = v
		}
	}
	if _, err := q.pub.publish(ctx, q.name, amqp.Publishing{Headers: h, Body: d.Body}); err != nil {
		_ = d.Nack(false, true)
		return
	}
	_ = d.Ack(false)
}

// deliveryCount is how many times d was delivered before (a quorum
// queue's count; 0 on other queues).
func deliveryCount(d amqp.Delivery) int64 {
	switch v := d.Headers[hdrQCount].(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case int:
		return int64(v)
	}
	return 0
}

// runOpen says whether the results queue of run exists (when the broker
// cannot tell, it does).
func (q *workQueue) runOpen(ctx context.Context, run string) bool {
	q.runMu.Lock()
	open, known := q.runs[run]
	q.runMu.Unlock()
	if known {
		return open
	}
	ch, err := q.c.channel(ctx)
	if err != nil {
		return true
	}
	_, err = ch.QueueDeclarePassive(q.resultsQueue(run), true, false, false, false, nil)
	_ = ch.Close()
	open = !isCode(err, amqp.NotFound)
	q.runMu.Lock()
	if len(q.runs) > 1024 {
		clear(q.runs)
	}
	q.runs[run] = open
	q.runMu.Unlock()
	return open
}

// tokenOK checks a run or parts token: 20 lowercase hex digits.
func tokenOK(s string) bool {
	if len(s) != 20 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// headerInt reads an integer header written by farpipe (a decimal string).
func headerInt(h amqp.Table, key string) (int, bool) {
	s, ok := h[key].(string)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
