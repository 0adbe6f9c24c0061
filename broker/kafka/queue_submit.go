package kafka

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/farpipe/farpipe/broker"
)

// queueSubmission is one run of items on a queue. Its goroutine (collect)
// reads the run's results topic and hands each item's first result to
// Result (through broker.Results, which holds the only lock); Close stops
// it and waits for it.
type queueSubmission struct {
	q      *workQueue
	run    string
	topic  string
	cl     *kgo.Client // reads the results
	cancel context.CancelFunc
	res    *broker.Results // the items put and their results; stopped when collect returns
}

// Submit starts a run: its results topic, then items.
func (q *workQueue) Submit(ctx context.Context) (broker.Submission, error) {
	s := &queueSubmission{q: q, run: broker.Token(), res: broker.NewResults(q.s.addr.Topic)}
	s.topic = q.resultsTopic(s.run)
	ms := strconv.FormatInt(queueResultAge.Milliseconds(), 10)
	_, err := q.s.adm.CreateTopic(ctx, 1, int16(max(q.opts.Replicas, 1)), map[string]*string{"retention.ms": &ms}, s.topic)
	if err != nil {
		return nil, fmt.Errorf("farpipe: queue %s: cannot create the run's results topic %s: %w", q.s.addr.Topic, s.topic, err)
	}
	s.cl, err = kgo.NewClient(append(q.s.addr.options(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxBytes(FetchMaxBytes), kgo.FetchMaxPartitionBytes(FetchMaxBytes))...)
	if err != nil {
		s.deleteTopic()
		return nil, fmt.Errorf("farpipe: Kafka client for %s: %w", q.s.addr, err)
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
	r := &kgo.Record{Topic: s.q.s.addr.Topic, Key: []byte(s.run), Value: item.Data, Headers: []kgo.RecordHeader{
		{Key: hdrRun, Value: []byte(s.run)}, {Key: hdrID, Value: []byte(item.ID)},
	}}
	for k, v := range item.Meta {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: hdrMeta + k, Value: []byte(broker.OneLine(v))})
	}
	if err := s.q.pr.ProduceSync(ctx, r).FirstErr(); err != nil {
		s.res.Forget(item.ID)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("farpipe: queue %s: cannot put item %s on Kafka: %w", s.q.s.addr.Topic, item.ID, err)
	}
	return nil
}

// Result waits for the item's first result.
func (s *queueSubmission) Result(ctx context.Context, id string) (*broker.WorkResult, error) {
	return s.res.Wait(ctx, id)
}

// collect reads the run's results until Close.
func (s *queueSubmission) collect(ctx context.Context) {
	for {
		fs := s.cl.PollFetches(ctx)
		err := fetchErr(fs)
		if ctx.Err() != nil {
			err = fmt.Errorf("farpipe: queue %s: the run was closed", s.q.s.addr.Topic)
		}
		if err != nil && !kerr.IsRetriable(err) {
			if ctx.Err() == nil {
				err = fmt.Errorf("farpipe: queue %s: reading results: %w", s.q.s.addr.Topic, err)
			}
			s.res.Stop(err)
			return
		}
		for it := fs.RecordIter(); !it.Done(); {
			s.deliver(it.Next())
		}
	}
}

// deliver hands a done record to its item's waiter, the first time.
func (s *queueSubmission) deliver(rec *kgo.Record) {
	if header(rec, hdrKind) != "done" {
		return // a part: read when its output is
	}
	s.res.Deliver(s.result(rec))
}

// result decodes a done record.
func (s *queueSubmission) result(rec *kgo.Record) (*broker.WorkResult, error) {
	r := &broker.WorkResult{ID: header(rec, hdrID), Worker: header(rec, hdrWorker), Output: io.NopCloser(bytes.NewReader(nil))}
	code, err1 := strconv.Atoi(header(rec, hdrStatus))
	parts, err2 := strconv.Atoi(header(rec, hdrParts))
	if err1 != nil || err2 != nil || parts < 0 {
		return r, fmt.Errorf("%w: a result without status", ErrQueueProtocol)
	}
	r.Status = broker.WorkStatus{Code: code, Note: header(rec, hdrNote)}
	if parts == 0 {
		r.Output = io.NopCloser(bytes.NewReader(rec.Value))
		return r, nil
	}
	offs, err := parseParts(rec.Value, parts)
	if err != nil {
		return r, err
	}
	r.Output = &partReader{s: s, offs: offs, token: header(rec, hdrToken), id: r.ID}
	return r, nil
}

// parseParts decodes the list of a result's parts: parts offsets, one a
// line, increasing. It never panics: the bytes come from the network.
func parseParts(b []byte, parts int) ([]int64, error) {
	var offs []int64
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		n, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil || n < 0 || len(offs) > 0 && n <= offs[len(offs)-1] || len(offs) == parts {
			return nil, fmt.Errorf("%w: a bad part list", ErrQueueProtocol)
		}
		offs = append(offs, n)
	}
	if sc.Err() != nil || len(offs) != parts {
		return nil, fmt.Errorf("%w: %d parts listed of %d", ErrQueueProtocol, len(offs), parts)
	}
	return offs, nil
}

// partReader reads a result stored in parts, one record at a time, with a
// client of its own made at the first Read.
type partReader struct {
	s     *queueSubmission
	offs  []int64
	token string
	id    string
	cl    *kgo.Client
	recs  []*kgo.Record // polled, not yet looked at
	cur   []byte
	err   error
}

func (p *partReader) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		if len(p.offs) == 0 {
			return 0, io.EOF
		}
		if err := p.next(); err != nil {
			p.err = fmt.Errorf("farpipe: queue %s: reading part of result %s: %w", p.s.q.s.addr.Topic, p.id, err)
		}
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// next reads the next part into cur.
func (p *partReader) next() error {
	if p.cl == nil {
		cl, err := kgo.NewClient(append(p.s.q.s.addr.options(),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{p.s.topic: {0: kgo.NewOffset().At(p.offs[0])}}),
			kgo.FetchMaxBytes(FetchMaxBytes), kgo.FetchMaxPartitionBytes(FetchMaxBytes))...)
		if err != nil {
			return err
		}
		p.cl = cl
	}
	for {
		for len(p.recs) > 0 {
			r := p.recs[0]
			p.recs = p.recs[1:]
			switch {
			case r.Offset < p.offs[0]:
				continue
			case r.Offset > p.offs[0]:
				return fmt.Errorf("%w: part at %d is missing", ErrQueueProtocol, p.offs[0])
			case header(r, hdrKind) != "part" || header(r, hdrToken) != p.token:
				return fmt.Errorf("%w: the record at %d is not a part of this result", ErrQueueProtocol, r.Offset)
			}
			p.offs = p.offs[1:]
			p.cur = r.Value
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		fs := p.cl.PollFetches(ctx)
		cancel()
		if err := fetchErr(fs); err != nil && !kerr.IsRetriable(err) {
			return err
		}
		p.recs = fs.Records()
	}
}

func (p *partReader) Close() error {
	if p.cl != nil {
		p.cl.Close()
	}
	p.offs, p.recs, p.cur = nil, nil, nil
	return nil
}

// Close stops collecting and deletes the run's results topic; the workers
// drop the run's items that are left.
func (s *queueSubmission) Close() error {
	s.cancel()
	<-s.res.Done()
	s.cl.Close()
	s.deleteTopic()
	return nil
}

func (s *queueSubmission) deleteTopic() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = s.q.s.adm.DeleteTopic(ctx, s.topic)
}
