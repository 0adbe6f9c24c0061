package nats

// The work queues of package broker on NATS JetStream. A queue QUEUE is two
// streams, created on first use:
//
//	FARPIPE_WORK_QUEUE    subjects farpipe.work.QUEUE.>    WorkQueue retention
//	FARPIPE_RESULT_QUEUE  subjects farpipe.result.QUEUE.>  WorkQueue retention, MaxAge 24h
//
// A Submission (one map run, id RUN) puts each item on farpipe.work.QUEUE.RUN
// (message id RUN.ID, so a publish that is retried is stored once) and reads
// results from farpipe.result.QUEUE.RUN.done through a consumer of its own.
// Workers share the durable pull consumer "workers" of the work stream: each
// takes one message per free slot, runs its command, and sends InProgress
// while it runs. A result is one message on farpipe.result.QUEUE.RUN.done
// carrying the output, or, when the output is larger than a message, the
// output in parts on farpipe.result.QUEUE.RUN.part.TOKEN, each stored before
// the next is read from the command, and a done message listing their
// stream sequences. The worker acks the item only after the done message is
// stored. The Submission takes the first result of each item and purges the
// rest; Close purges what is left of the run in both streams.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/farpipe/farpipe/broker"
	natst "github.com/farpipe/farpipe/transport/nats"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func init() {
	for _, s := range []string{"nats", "nats+tls", "nats+ws", "nats+wss"} {
		broker.RegisterQueue(s, OpenQueue)
	}
}

const (
	// QueueAckWait is the default time a taken item may go without
	// progress before it goes to another worker.
	QueueAckWait = 30 * time.Second
	// queueHeadroom is what a message keeps free for headers.
	queueHeadroom = 8 << 10
	// queueResultAge is how long results nobody collects are kept.
	queueResultAge = 24 * time.Hour
	// queueWorkers is the durable consumer the workers of a queue share.
	queueWorkers = "workers"
)

// Message headers of the work queue.
const (
	hdrQueueID     = "Farpipe-Id"
	hdrQueueRun    = "Farpipe-Run"
	hdrQueueStatus = "Farpipe-Status"
	hdrQueueNote   = "Farpipe-Note"
	hdrQueueWorker = "Farpipe-Worker"
	hdrQueueParts  = "Farpipe-Parts"
	hdrQueueMeta   = "Farpipe-Meta-"
)

// ErrQueueProtocol: a message on the queue's streams is not what farpipe
// puts there.
var ErrQueueProtocol = errors.New("farpipe: unexpected message on the work queue")

// workQueue is a broker.Queue on one JetStream.
type workQueue struct {
	name    string
	nc      *natsgo.Conn
	release func()
	js      jetstream.JetStream
	work    jetstream.Stream
	results jetstream.Stream
	opts    broker.QueueOptions

	consMu sync.Mutex
	cons   jetstream.Consumer // the workers' consumer, made by the first Take

	bufs sync.Pool // *[]byte of MaxItem capacity: outputs being stored
}

// OpenQueue opens the queue at addr, nats://[LOGIN@]HOST[:PORT][,HOST...]/QUEUE[?SETTINGS]
// (and nats+tls, nats+ws, nats+wss), creating its streams if they do not
// exist yet.
func OpenQueue(ctx context.Context, addr string, opts broker.QueueOptions) (broker.Queue, error) {
	relayAddr, name, err := queueAddr(addr)
	if err != nil {
		return nil, err
	}
	nc, release, err := natst.Connect(ctx, relayAddr)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		release()
		return nil, fmt.Errorf("farpipe: queue %s: %w", name, err)
	}
	if opts.AckWait <= 0 {
		opts.AckWait = QueueAckWait
	}
	if opts.Worker == "" {
		host, _ := os.Hostname()
		opts.Worker = host + ":" + strconv.Itoa(os.Getpid())
	}
	q := &workQueue{name: name, nc: nc, release: release, js: js, opts: opts}
	if err := q.streams(ctx); err != nil {
		release()
		return nil, err
	}
	return q, nil
}

// queueAddr splits a queue address into the relay's and the queue's name.
func queueAddr(addr string) (relay, name string, err error) {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return "", "", fmt.Errorf("farpipe: bad queue address: write nats://HOST[:PORT]/QUEUE")
	}
	rest, query, hasQuery := strings.Cut(rest, "?")
	authority, name, _ := strings.Cut(rest, "/")
	if !queueNameOK(name) {
		return "", "", fmt.Errorf("farpipe: bad queue name %q in %s://…: write %s://HOST[:PORT]/QUEUE with QUEUE of letters, digits, '-' and '_' (at most 64)", name, scheme, scheme)
	}
	relay = scheme + "://" + authority
	if hasQuery {
		relay += "?" + query
	}
	return relay, name, nil
}

func queueNameOK(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// streams finds the queue's two streams, or creates them: an existing
// stream keeps its settings (replicas, limits), whoever set them.
func (q *workQueue) streams(ctx context.Context) error {
	var err error
	q.work, err = q.stream(ctx, jetstream.StreamConfig{
		Name:        "FARPIPE_WORK_" + q.name,
		Description: "farpipe work queue " + q.name + ": items",
		Subjects:    []string{"farpipe.work." + q.name + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    max(q.opts.Replicas, 1),
	})
	if err != nil {
		return err
	}
	q.results, err = q.stream(ctx, jetstream.StreamConfig{
		Name:        "FARPIPE_RESULT_" + q.name,
		Description: "farpipe work queue " + q.name + ": results",
		Subjects:    []string{"farpipe.result." + q.name + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    max(q.opts.Replicas, 1),
		MaxAge:      queueResultAge,
	})
	return err
}

func (q *workQueue) stream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	give := time.Now().Add(queueRetryFor)
	for try := 0; ; try++ {
		s, err := q.js.Stream(ctx, cfg.Name)
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) && ctx.Err() == nil && queueTransient(err) && time.Now().Before(give) {
			// A cluster still electing its leaders, or a loaded server:
			// the JetStream API does not answer yet.
			if err := queueSleep(ctx, 250*time.Millisecond); err != nil {
				return nil, err
			}
			try--
			continue
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			if err != nil {
				return nil, fmt.Errorf("farpipe: queue %s: cannot find its stream %s on the relay: %w", q.name, cfg.Name, err)
			}
			return s, nil
		}
		s, err = q.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && try < 3 {
			continue // another worker made it first
		}
		if err != nil && ctx.Err() == nil && queueTransient(err) && time.Now().Before(give) {
			if err := queueSleep(ctx, 250*time.Millisecond); err != nil {
				return nil, err
			}
			continue // it may have been made: look again
		}
		if err != nil {
			return nil, fmt.Errorf("farpipe: queue %s: cannot create its stream %s on the relay: %w", q.name, cfg.Name, err)
		}
		return s, nil
	}
}

func (q *workQueue) MaxItem() int { return int(q.nc.MaxPayload()) - queueHeadroom }

func (q *workQueue) Close() error {
	q.release()
	return nil
}

// workerConsumer returns the consumer the workers share, creating it (or
// setting its ack wait) on first use.
func (q *workQueue) workerConsumer(ctx context.Context) (jetstream.Consumer, error) {
	q.consMu.Lock()
	defer q.consMu.Unlock()
	if q.cons != nil {
		return q.cons, nil
	}
	c, err := q.js.CreateOrUpdateConsumer(ctx, q.work.CachedInfo().Config.Name, jetstream.ConsumerConfig{
		Durable:       queueWorkers,
		Description:   "farpipe workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: -1,
		MaxWaiting:    4096,
	})
	if err != nil {
		return nil, fmt.Errorf("farpipe: queue %s: cannot join its workers on the relay: %w", q.name, err)
	}
	q.cons = c
	return c, nil
}

// Depth returns how many items wait on the queue, taken by no worker yet:
// one request to the relay. It is not part of broker.Queue (the metrics of
// worker ask for it when the driver has it).
func (q *workQueue) Depth(ctx context.Context) (uint64, error) {
	cons, err := q.workerConsumer(ctx)
	if err != nil {
		return 0, err
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("farpipe: queue %s: %w", q.name, err)
	}
	return ci.NumPending, nil
}

// AckWait is the ack wait of the workers' consumer as the relay has it
// (another worker may have set it), or the queue's option before Take.
func (q *workQueue) AckWait() time.Duration {
	q.consMu.Lock()
	defer q.consMu.Unlock()
	if q.cons != nil {
		if d := q.cons.CachedInfo().Config.AckWait; d > 0 {
			return d
		}
	}
	return q.opts.AckWait
}

// getBuf returns an empty buffer for a message of output.
func (q *workQueue) getBuf() []byte {
	if b, ok := q.bufs.Get().(*[]byte); ok && cap(*b) == q.MaxItem() {
		return (*b)[:0]
	}
	return make([]byte, 0, q.MaxItem())
}

func (q *workQueue) putBuf(b []byte) {
	if b != nil {
		q.bufs.Put(&b)
	}
}

// queueRetryFor is how long publish tries to store a message: less than
// the streams' duplicate window (2 min), so that a message stored by a try
// whose confirmation was lost is not stored again by the next.
const queueRetryFor = 90 * time.Second

// queueTryTimeout bounds one try of publish.
const queueTryTimeout = 5 * time.Second

// publish stores m on one of the queue's streams with the message id id,
// trying again while the failure may pass (a node of a cluster down, a
// stream leader being elected, a reconnection), for up to queueRetryFor.
func (q *workQueue) publish(ctx context.Context, m *natsgo.Msg, id string) (*jetstream.PubAck, error) {
	give := time.Now().Add(queueRetryFor)
	for {
		tctx, cancel := context.WithTimeout(ctx, queueTryTimeout)
		ack, err := q.js.PublishMsg(tctx, m, jetstream.WithMsgID(id), jetstream.WithRetryAttempts(20))
		cancel()
		if err == nil || ctx.Err() != nil || !queueTransient(err) || time.Now().After(give) {
			return ack, err
		}
		if err := queueSleep(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// queueSleep waits for d, or for ctx's end.
func queueSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// queueTransient reports whether a publishing error may pass by itself
// (ErrReconnectBufExceeded: the client holds what was published while it
// reconnects, up to a limit).
func queueTransient(err error) bool {
	var ae *jetstream.APIError
	if errors.As(err, &ae) {
		return ae.Code == 503 || ae.ErrorCode == errClusterUnavailable || ae.ErrorCode == errLastSeqNotReady
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, natsgo.ErrTimeout) ||
		errors.Is(err, natsgo.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, natsgo.ErrConnectionReconnecting) || errors.Is(err, natsgo.ErrReconnectBufExceeded)
}

// Take waits for an item.
func (q *workQueue) Take(ctx context.Context) (broker.Work, error) {
	cons, err := q.workerConsumer(ctx)
	if err != nil {
		return nil, err
	}
	for {
		if err := context.Cause(ctx); err != nil {
			return nil, err
		}
		// A short pull, again and again: a message given to a pull that
		// was abandoned would wait for the ack wait.
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		switch {
		case errors.Is(err, natsgo.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages):
			continue
		case err != nil:
			return nil, fmt.Errorf("farpipe: queue %s: taking an item: %w", q.name, err)
		}
		h := msg.Headers()
		run, id := h.Get(hdrQueueRun), h.Get(hdrQueueID)
		if run == "" || id == "" || !queueNameOK(run) {
			msg.Term()
			continue // not ours: never run it
		}
		item := broker.WorkItem{ID: id, Data: msg.Data(), Meta: map[string]string{}}
		for k, v := range h {
			if key, ok := strings.CutPrefix(k, hdrQueueMeta); ok && len(v) > 0 {
				item.Meta[key] = v[0]
			}
		}
		return &queueWork{q: q, ctx: ctx, msg: msg, run: run, item: item}, nil
	}
}

// queueWork is an item a worker took.
type queueWork struct {
	q    *workQueue
	ctx  context.Context
	msg  jetstream.Msg
	run  string
	item broker.WorkItem

	buf   []byte   // output not yet stored
	parts []uint64 // stream sequences of the parts stored
	token string   // the parts' subject token
}

func (w *queueWork) Item() broker.WorkItem { return w.item }

// Progress may be called at any time, from any goroutine.
func (w *queueWork) Progress() error { return w.msg.InProgress() }
func (w *queueWork) GiveBack() error {
	w.q.putBuf(w.buf)
	w.buf = nil
	return w.msg.Nak()
}

func (w *queueWork) subject(last string) string {
	return "farpipe.result." + w.q.name + "." + w.run + "." + last
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
		if w.buf == nil {
			w.buf = w.q.getBuf()
		}
		k := min(len(p), max-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
	}
	return n, nil
}

func (w *queueWork) storePart() error {
	if w.token == "" {
		w.token = broker.Token()
	}
	m := natsgo.NewMsg(w.subject("part." + w.token))
	m.Data = w.buf
	ack, err := w.q.publish(w.ctx, m, w.token+"."+strconv.Itoa(len(w.parts)))
	if err != nil {
		return fmt.Errorf("farpipe: queue %s: storing part of a result: %w", w.q.name, err)
	}
	w.parts = append(w.parts, ack.Sequence)
	w.buf = w.buf[:0]
	return nil
}

// Finish stores the result, then acks the item.
func (w *queueWork) Finish(ctx context.Context, st broker.WorkStatus) error {
	body := w.buf
	if len(w.parts) > 0 {
		if len(w.buf) > 0 {
			if err := w.storePart(); err != nil {
				return err
			}
		}
		var b bytes.Buffer
		for _, s := range w.parts {
			fmt.Fprintln(&b, s)
		}
		body = b.Bytes()
	}
	m := natsgo.NewMsg(w.subject("done"))
	m.Data = body
	m.Header.Set(hdrQueueID, w.item.ID)
	m.Header.Set(hdrQueueStatus, strconv.Itoa(st.Code))
	m.Header.Set(hdrQueueNote, broker.OneLine(st.Note))
	m.Header.Set(hdrQueueWorker, broker.OneLine(w.q.opts.Worker))
	m.Header.Set(hdrQueueParts, strconv.Itoa(len(w.parts)))
	if w.token == "" {
		w.token = broker.Token()
	}
	if _, err := w.q.publish(ctx, m, w.token+".done"); err != nil {
		return fmt.Errorf("farpipe: queue %s: storing a result: %w", w.q.name, err)
	}
	w.q.putBuf(w.buf)
	w.buf = nil
	if err := w.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("farpipe: queue %s: the result is stored but the item could not be taken off the queue (it will run again, and its second result be dropped): %w", w.q.name, err)
	}
	return nil
}
