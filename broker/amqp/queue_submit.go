package amqp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/farpipe/farpipe/broker"
)

// queueSubmission is one run of items on a queue. Its goroutine (collect)
// consumes the run's results queue, consuming again after a lost
// connection, and hands each item's first result to Result (through
// broker.Results, which holds the only lock); Close stops it and waits for
// it.
type queueSubmission struct {
	q       *workQueue
	run     string
	results string // the results queue
	cancel  context.CancelFunc
	res     *broker.Results // stopped when collect returns
}

// queueResultsPrefetch bounds the results delivered to map and not yet
// handed out (each is handed out at once, then acked).
const queueResultsPrefetch = 16

// Submit starts a run: its results queue, then items.
func (q *workQueue) Submit(ctx context.Context) (broker.Submission, error) {
	s := &queueSubmission{q: q, run: broker.Token(), res: broker.NewResults(q.name)}
	s.results = q.resultsQueue(s.run)
	if err := retry(ctx, func() error { return q.declare(ctx, s.results, queueResultsExpire, false) }); err != nil {
		return nil, fmt.Errorf("farpipe: queue %s: cannot make the run's results queue: %w", q.name, err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.collect(cctx)
	return s, nil
}

// Put stores the item on the queue.
func (s *queueSubmission) Put(ctx context.Context, item broker.WorkItem) error {
	if err := s.res.Expect(item.ID); err != nil {
		return err
	}
	h := amqp.Table{hdrQRun: s.run, hdrQID: item.ID}
	for k, v := range item.Meta {
		h[hdrQMeta+k] = broker.OneLine(v)
	}
	returned, err := s.q.pub.publish(ctx, s.q.name, amqp.Publishing{Headers: h, Body: item.Data})
	if err == nil && returned {
		err = fmt.Errorf("%w: the queue is not on the broker (deleted?)", broker.ErrNoStream)
	}
	if err != nil {
		s.res.Forget(item.ID)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("farpipe: queue %s: cannot put item %s on %s: %w", s.q.name, item.ID, s.q.c.redacted, err)
	}
	return nil
}

// Result waits for the item's first result.
func (s *queueSubmission) Result(ctx context.Context, id string) (*broker.WorkResult, error) {
	return s.res.Wait(ctx, id)
}

// errLost: the results' consumer, which worked, was lost.
var errLost = errors.New("farpipe: the results' consumer was lost")

// collect consumes the results until Close, or until the broker cannot be
// reached for RetryFor.
func (s *queueSubmission) collect(ctx context.Context) {
	var err error
	for {
		live := false // a new retry after a consumer that worked
		err = retry(ctx, func() error {
			err := s.consume(ctx, &live)
			if live && ctx.Err() == nil {
				return errLost
			}
			return err
		})
		if !errors.Is(err, errLost) {
			break
		}
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("farpipe: queue %s: the run was closed", s.q.name)
	} else {
		err = fmt.Errorf("farpipe: queue %s: reading results: %w", s.q.name, err)
	}
	s.res.Stop(err)
}

// consume reads results on one channel until it is lost (ErrTransient) or
// ctx ends; it sets live once it consumes.
func (s *queueSubmission) consume(ctx context.Context, live *bool) error {
	ch, err := s.q.c.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Qos(queueResultsPrefetch, 0, false); err != nil {
		return fmt.Errorf("%w: %w", broker.ErrTransient, err)
	}
	dels, err := ch.Consume(s.results, "", false, false, false, false, nil)
	if isCode(err, amqp.NotFound) {
		return fmt.Errorf("the run's results queue %s is gone from the broker (deleted, or expired)", s.results)
	}
	if err != nil {
		return fmt.Errorf("%w: consuming %s: %w", broker.ErrTransient, s.results, err)
	}
	*live = true
	for {
		select {
		case d, ok := <-dels:
			if !ok {
				return fmt.Errorf("%w: %s on %s: the channel was closed", broker.ErrTransient, s.results, s.q.c.redacted)
			}
			s.res.Deliver(s.result(&d))
			_ = d.Ack(false) // lost: it comes again, and is dropped
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// result decodes a result message.
func (s *queueSubmission) result(d *amqp.Delivery) (*broker.WorkResult, error) {
	id, _ := d.Headers[hdrQID].(string)
	worker, _ := d.Headers[hdrQWorker].(string)
	note, _ := d.Headers[hdrQNote].(string)
	r := &broker.WorkResult{ID: id, Worker: worker, Output: io.NopCloser(bytes.NewReader(nil))}
	code, ok1 := headerInt(d.Headers, hdrQStatus)
	parts, ok2 := headerInt(d.Headers, hdrQParts)
	if !ok1 || !ok2 || parts < 0 {
		return r, fmt.Errorf("%w: a result without status", ErrQueueProtocol)
	}
	r.Status = broker.WorkStatus{Code: code, Note: note}
	if parts == 0 {
		r.Output = io.NopCloser(bytes.NewReader(d.Body))
		return r, nil
	}
	token, _ := d.Headers[hdrQToken].(string)
	if !tokenOK(token) {
		return r, fmt.Errorf("%w: a result in parts without its token", ErrQueueProtocol)
	}
	r.Output = &partReader{q: s.q, queue: s.q.name + PartsSuffix + token, parts: parts, id: id}
	return r, nil
}

// Close stops collecting and deletes the run's results queue; the workers
// drop the run's items that are left.
func (s *queueSubmission) Close() error {
	s.cancel()
	<-s.res.Done()
	deleteQueue(s.q.c, s.results)
	return nil
}

// partReader reads a result stored in parts, a message at a time (basic.get
// on a channel of its own), and deletes the parts queue at Close.
type partReader struct {
	q     *workQueue
	queue string
	parts int // parts in all
	next  int // the part to read
	id    string
	ch    *amqp.Channel
	cur   []byte
	err   error
}

func (p *partReader) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		if p.next == p.parts {
			return 0, io.EOF
		}
		ctx, cancel := context.WithTimeout(context.Background(), RetryFor)
		err := retry(ctx, p.get)
		cancel()
		if err != nil {
			p.err = fmt.Errorf("farpipe: queue %s: reading part %d of result %s: %w", p.q.name, p.next, p.id, err)
		}
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// get reads the next part into cur. A part read before whose ack was lost
// comes again first: it is skipped.
func (p *partReader) get() error {
	if p.ch == nil || p.ch.IsClosed() {
		ch, err := p.q.c.channel(context.Background())
		if err != nil {
			return err
		}
		p.ch = ch
	}
	for {
		d, ok, err := p.ch.Get(p.queue, false)
		switch {
		case isCode(err, amqp.NotFound):
			return fmt.Errorf("%w: its parts queue is gone (expired, or deleted)", ErrQueueProtocol)
		case err != nil:
			return fmt.Errorf("%w: %w", broker.ErrTransient, err)
		case !ok:
			return fmt.Errorf("%w: part %d is missing", ErrQueueProtocol, p.next)
		}
		i, ok := headerInt(d.Headers, hdrQPart)
		if ok && i < p.next {
			_ = d.Ack(false)
			continue
		}
		if !ok || i > p.next {
			return fmt.Errorf("%w: part %d where %d was due", ErrQueueProtocol, i, p.next)
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("%w: %w", broker.ErrTransient, err)
		}
		p.cur, p.next = d.Body, p.next+1
		return nil
	}
}

// Close deletes the parts queue.
func (p *partReader) Close() error {
	if p.ch != nil {
		_ = p.ch.Close()
	}
	deleteQueue(p.q.c, p.queue)
	p.cur, p.next = nil, p.parts
	return nil
}
