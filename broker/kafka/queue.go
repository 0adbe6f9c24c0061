package kafka

// The work queues of package broker on Kafka share groups (KIP-932, Kafka
// 4.2 or later for the lock renewals). A queue QUEUE is:
//
//	topic QUEUE                              the items of every run, one partition, kept 7 days
//	share group farpipe-workers-QUEUE        the workers: each record goes to one of them at a time
//	topic QUEUE.farpipe-results.RUN          one run's results; made by Submit, deleted by Close
//
// A Submission (one map run, id RUN) produces each item to QUEUE (headers:
// run, id, meta) and reads its results topic from the start. A worker
// takes one record per free slot through a share client of its own (a
// share client accepts what its last poll returned when it polls again,
// so a client never holds two items), renews the record's acquisition
// lock while the command runs (Progress), produces the result to the
// run's topic, and only then accepts the record. A result is one record
// (kind done) carrying the output, or, when the output is larger than a
// record, the output in records of kind part, each stored before the next
// is read from the command, and a done record listing their offsets. A
// worker that dies releases its records when its connection closes, or
// they are released when their lock (QueueOptions.AckWait) expires; a
// record delivered a second time is put back as a new record (Kafka would
// archive it after share.delivery.count.limit deliveries, and map would
// wait for ever). Items of a run that was closed are dropped by the
// workers (its results topic is gone).

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

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/farpipe/farpipe/broker"
)

func init() {
	for _, s := range []string{"kafka", "kafka+tls"} {
		broker.RegisterQueue(s, OpenQueue)
	}
}

const (
	// QueueAckWait is the default acquisition lock of a taken item: it
	// goes to another worker when its worker shows no progress for this
	// long.
	QueueAckWait = 30 * time.Second
	// queueMaxRecord is the largest record the queue produces: Kafka's
	// default message.max.bytes (1 MiB and 12 bytes) less the batch's.
	queueMaxRecord = 1 << 20
	// queueHeadroom is what a record keeps free for its headers.
	queueHeadroom = 16 << 10
	// queueItemAge is how long items are kept (those of dead runs).
	queueItemAge = 7 * 24 * time.Hour
	// queueResultAge is how long results nobody collects are kept.
	queueResultAge = 24 * time.Hour
	// queueCopyAt is the delivery at which a taken item is put back as a
	// new record.
	queueCopyAt = 2
)

// Record headers of the work queue.
const (
	hdrRun    = "farpipe-run"
	hdrID     = "farpipe-id"
	hdrKind   = "farpipe-kind" // "part" or "done"
	hdrStatus = "farpipe-status"
	hdrNote   = "farpipe-note"
	hdrWorker = "farpipe-worker"
	hdrParts  = "farpipe-parts"
	hdrToken  = "farpipe-token"
	hdrMeta   = "farpipe-meta-"
)

// ErrQueueProtocol: a record on the queue's topics is not what farpipe
// puts there.
var ErrQueueProtocol = errors.New("farpipe: unexpected record on the Kafka work queue")

// workQueue is a broker.Queue on a Kafka cluster.
type workQueue struct {
	s     *Stream     // the items topic, its admin client
	pr    *kgo.Client // produces items and results
	group string
	opts  broker.QueueOptions

	setupOnce sync.Once
	setupErr  error

	mu     sync.Mutex
	free   []*kgo.Client   // share clients holding no item
	all    []*kgo.Client   // every share client, closed by Close
	runs   map[string]bool // whether a run's results topic exists
	closed bool
}

// OpenQueue opens the queue at addr, kafka://[USER:PASS@]BROKER[,BROKER...]/QUEUE,
// creating its items topic when it does not exist.
func OpenQueue(ctx context.Context, addr string, opts broker.QueueOptions) (broker.Queue, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	if len(a.Topic) > 200 {
		return nil, fmt.Errorf("%w: the queue name %q is longer than 200 bytes", broker.ErrBadAddress, a.Topic)
	}
	if opts.AckWait <= 0 {
		opts.AckWait = QueueAckWait
	}
	if opts.Worker == "" {
		host, _ := os.Hostname()
		opts.Worker = host + ":" + strconv.Itoa(os.Getpid())
	}
	s, err := Open(ctx, a, broker.StreamConfig{Replicas: opts.Replicas, MaxAge: queueItemAge})
	if err != nil {
		return nil, err
	}
	pr, err := kgo.NewClient(append(a.options(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(DeliveryTimeout),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(queueMaxRecord))...)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("farpipe: Kafka client for %s: %w", a, err)
	}
	q := &workQueue{s: s, pr: pr, group: "farpipe-workers-" + a.Topic, opts: opts, runs: map[string]bool{}}
	// Items put before the first worker joins must reach it.
	if err := q.groupConfig(ctx, map[string]string{"share.auto.offset.reset": "earliest"}); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// groupConfig sets configs of the workers' share group.
func (q *workQueue) groupConfig(ctx context.Context, cfg map[string]string) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeGroupConfig
	res.ResourceName = q.group
	for k, v := range cfg {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = k, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(v)
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, q.s.admin)
	if err == nil {
		for _, r := range resp.Resources {
			if err = kerr.ErrorForCode(r.ErrorCode); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("farpipe: Kafka at %s cannot set the share group %s (%v): work queues need share groups (Kafka 4.2 or later, share.version enabled)", strings.Join(q.s.addr.Brokers, ","), q.group, err)
	}
	return nil
}

func (q *workQueue) MaxItem() int { return queueMaxRecord - queueHeadroom }

// Close closes the queue's clients: items taken and not finished go back
// to the queue.
func (q *workQueue) Close() error {
	q.mu.Lock()
	all := q.all
	q.all, q.free, q.closed = nil, nil, true
	q.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
	q.pr.Close()
	return q.s.Close()
}

// AckWait is the items' acquisition lock that the workers set.
func (q *workQueue) AckWait() time.Duration { return q.opts.AckWait }

// setup sets the workers' lock duration, once.
func (q *workQueue) setup(ctx context.Context) error {
	q.setupOnce.Do(func() {
		q.setupErr = q.groupConfig(ctx, map[string]string{
			"share.record.lock.duration.ms": strconv.FormatInt(q.opts.AckWait.Milliseconds(), 10),
		})
	})
	return q.setupErr
}

// client returns a share client that holds no item.
func (q *workQueue) client() (*kgo.Client, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, fmt.Errorf("farpipe: queue %s is closed", q.s.addr.Topic)
	}
	if n := len(q.free); n > 0 {
		c := q.free[n-1]
		q.free = q.free[:n-1]
		return c, nil
	}
	c, err := kgo.NewClient(append(q.s.addr.options(),
		kgo.ConsumeTopics(q.s.addr.Topic),
		kgo.ShareGroup(q.group),
		kgo.ShareMaxRecords(1),
		kgo.ShareMaxRecordsStrict(),
		kgo.FetchMaxWait(time.Second))...)
	if err != nil {
		return nil, fmt.Errorf("farpipe: Kafka client for %s: %w", q.s.addr, err)
	}
	q.all = append(q.all, c)
	return c, nil
}

// release gives back a client whose item has its final acknowledgement.
func (q *workQueue) release(c *kgo.Client) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.free = append(q.free, c)
	}
}

// flush sends a client's acknowledgements.
func flush(c *kgo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.FlushAcks(ctx)
}

// Take waits for an item.
func (q *workQueue) Take(ctx context.Context) (broker.Work, error) {
	if err := q.setup(ctx); err != nil {
		return nil, err
	}
	for {
		c, err := q.client()
		if err != nil {
			return nil, err
		}
		fs := c.PollRecords(ctx, 1)
		recs := fs.Records()
		err = fetchErr(fs)
		if ctx.Err() != nil || err != nil || len(recs) == 0 {
			// A record the poll returned must not stay pending: the
			// client's next poll would accept it, never run.
			for _, r := range recs {
				r.Ack(kgo.AckRelease)
			}
			if len(recs) > 0 {
				flush(c)
			}
			q.release(c)
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			if err != nil {
				return nil, fmt.Errorf("farpipe: queue %s: taking an item: %w", q.s.addr.Topic, err)
			}
			continue
		}
		for _, r := range recs[1:] { // never more than one (strict)
			r.Ack(kgo.AckRelease)
		}
		if w := q.work(ctx, c, recs[0]); w != nil {
			return w, nil
		}
		flush(c)
		q.release(c)
	}
}

// work makes the Work of a taken record, or acknowledges a record that is
// not to run here and returns nil.
func (q *workQueue) work(ctx context.Context, c *kgo.Client, r *kgo.Record) *queueWork {
	run, id := header(r, hdrRun), header(r, hdrID)
	if !tokenOK(run) || id == "" {
		r.Ack(kgo.AckReject) // not ours: never run it
		return nil
	}
	if !q.runOpen(ctx, run) {
		r.Ack(kgo.AckAccept) // its run was closed
		return nil
	}
	if r.DeliveryCount() >= queueCopyAt {
		cp := &kgo.Record{Topic: q.s.addr.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers}
		if err := q.pr.ProduceSync(ctx, cp).FirstErr(); err != nil {
			r.Ack(kgo.AckRelease)
		} else {
			r.Ack(kgo.AckAccept)
		}
		return nil
	}
	item := broker.WorkItem{ID: id, Data: r.Value, Meta: map[string]string{}}
	for _, h := range r.Headers {
		if k, ok := strings.CutPrefix(h.Key, hdrMeta); ok {
			item.Meta[k] = string(h.Value)
		}
	}
	return &queueWork{q: q, c: c, r: r, ctx: ctx, run: run, item: item}
}

// runOpen says whether the results topic of run exists.
func (q *workQueue) runOpen(ctx context.Context, run string) bool {
	q.mu.Lock()
	open, known := q.runs[run]
	q.mu.Unlock()
	if known {
		return open
	}
	td, err := q.s.adm.ListTopics(ctx, q.resultsTopic(run))
	if err != nil {
		return true // not known: run it
	}
	d, ok := td[q.resultsTopic(run)]
	open = !ok || !errors.Is(d.Err, kerr.UnknownTopicOrPartition)
	q.mu.Lock()
	if len(q.runs) > 1024 {
		clear(q.runs)
	}
	q.runs[run] = open
	q.mu.Unlock()
	return open
}

func (q *workQueue) resultsTopic(run string) string {
	return q.s.addr.Topic + ".farpipe-results." + run
}

// header returns the value of a record's header key.
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// tokenOK checks a run token: 20 lowercase hex digits.
func tokenOK(s string) bool {
	if len(s) != 20 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
