package nats

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/farpipe/farpipe/broker"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// queueSubmission is one run of items on a queue. Its goroutine (collect)
// reads the run's results and hands each item's first one to Result; Close
// stops it and waits for it. broker.Results holds the only lock.
type queueSubmission struct {
	q    *workQueue
	run  string
	cons jetstream.Consumer
	it   jetstream.MessagesContext
	res  *broker.Results // the items put and their results; stopped when collect returns
}

// Submit starts a run: its own consumer of the run's results, then items.
func (q *workQueue) Submit(ctx context.Context) (broker.Submission, error) {
	s := &queueSubmission{q: q, run: broker.Token(), res: broker.NewResults(q.name)}
	var err error
	for give := time.Now().Add(queueRetryFor); ; {
		s.cons, err = q.js.CreateOrUpdateConsumer(ctx, q.results.CachedInfo().Config.Name, jetstream.ConsumerConfig{
			Name:              "map_" + s.run,
			Description:       "farpipe map: results of one run",
			FilterSubject:     "farpipe.result." + q.name + "." + s.run + ".done",
			AckPolicy:         jetstream.AckExplicitPolicy,
			MaxAckPending:     -1,
			InactiveThreshold: time.Hour,
		})
		if err == nil || ctx.Err() != nil || !queueTransient(err) || time.Now().After(give) {
			break
		}
		if err := queueSleep(ctx, 250*time.Millisecond); err != nil { // a cluster electing its leaders
			return nil, err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("farpipe: queue %s: cannot read results on the relay: %w", q.name, err)
	}
	// A missed heartbeat makes the iterator pull again rather than fail the run.
	s.it, err = s.cons.Messages(jetstream.PullMaxMessages(256), jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		s.deleteConsumer()
		return nil, fmt.Errorf("farpipe: queue %s: cannot read results on the relay: %w", q.name, err)
	}
	go s.collect()
	return s, nil
}

// Put stores the item on the queue.
func (s *queueSubmission) Put(ctx context.Context, item broker.WorkItem) error {
	if err := s.res.Expect(item.ID); err != nil {
		return err
	}
	m := natsgo.NewMsg("farpipe.work." + s.q.name + "." + s.run)
	m.Data = item.Data
	m.Header.Set(hdrQueueRun, s.run)
	m.Header.Set(hdrQueueID, item.ID)
	for k, v := range item.Meta {
		m.Header.Set(hdrQueueMeta+k, broker.OneLine(v))
	}
	_, err := s.q.publish(ctx, m, s.run+"."+item.ID)
	if err != nil {
		s.res.Forget(item.ID)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("farpipe: queue %s: cannot put item %s on the relay: %w", s.q.name, item.ID, err)
	}
	return nil
}

// Result waits for the item's first result.
func (s *queueSubmission) Result(ctx context.Context, id string) (*broker.WorkResult, error) {
	return s.res.Wait(ctx, id)
}

// collect reads the run's results until Close.
func (s *queueSubmission) collect() {
	for {
		msg, err := s.it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				err = fmt.Errorf("farpipe: queue %s: the run was closed", s.q.name)
			} else {
				err = fmt.Errorf("farpipe: queue %s: reading results: %w", s.q.name, err)
			}
			s.res.Stop(err)
			return
		}
		msg.Ack()
		s.res.Deliver(s.result(msg))
	}
}

// result decodes a done message.
func (s *queueSubmission) result(msg jetstream.Msg) (*broker.WorkResult, error) {
	h := msg.Headers()
	r := &broker.WorkResult{ID: h.Get(hdrQueueID), Worker: h.Get(hdrQueueWorker),
		Output: io.NopCloser(bytes.NewReader(nil))}
	code, err1 := strconv.Atoi(h.Get(hdrQueueStatus))
	parts, err2 := strconv.Atoi(h.Get(hdrQueueParts))
	if err1 != nil || err2 != nil || parts < 0 {
		return r, fmt.Errorf("%w: a result without status", ErrQueueProtocol)
	}
	r.Status = broker.WorkStatus{Code: code, Note: h.Get(hdrQueueNote)}
	if parts == 0 {
		r.Output = io.NopCloser(bytes.NewReader(msg.Data()))
		return r, nil
	}
	pr := &queuePartReader{s: s}
	sc := bufio.NewScanner(bytes.NewReader(msg.Data()))
	for sc.Scan() {
		n, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			return r, fmt.Errorf("%w: a bad part list", ErrQueueProtocol)
		}
		pr.seqs = append(pr.seqs, n)
	}
	if len(pr.seqs) != parts {
		return r, fmt.Errorf("%w: %d parts listed of %d", ErrQueueProtocol, len(pr.seqs), parts)
	}
	r.Output = pr
	return r, nil
}

// queuePartReader reads a result stored in parts, one message at a time;
// Close deletes the parts.
type queuePartReader struct {
	s    *queueSubmission
	seqs []uint64
	next int
	cur  []byte
	err  error
}

func (p *queuePartReader) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		if p.next == len(p.seqs) {
			return 0, io.EOF
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		m, err := p.s.q.results.GetMsg(ctx, p.seqs[p.next])
		cancel()
		if err != nil {
			p.err = fmt.Errorf("farpipe: queue %s: reading part %d of a result: %w", p.s.q.name, p.next, err)
			return 0, p.err
		}
		p.next++
		p.cur = m.Data
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

func (p *queuePartReader) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, seq := range p.seqs {
		p.s.q.results.DeleteMsg(ctx, seq)
	}
	p.seqs, p.next, p.cur = nil, 0, nil
	return nil
}

// Close stops collecting and removes the run's leftovers on the relay.
func (s *queueSubmission) Close() error {
	s.it.Stop()
	<-s.res.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.q.work.Purge(ctx, jetstream.WithPurgeSubject("farpipe.work."+s.q.name+"."+s.run))
	s.q.results.Purge(ctx, jetstream.WithPurgeSubject("farpipe.result."+s.q.name+"."+s.run+".>"))
	s.deleteConsumer()
	return nil
}

func (s *queueSubmission) deleteConsumer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.q.js.DeleteConsumer(ctx, s.q.results.CachedInfo().Config.Name, "map_"+s.run)
}
