package kafka

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/farpipe/farpipe/broker"
)

// queueWork is an item a worker took, held by its share client c until
// Finish or GiveBack acknowledges it for good.
type queueWork struct {
	q    *workQueue
	c    *kgo.Client
	r    *kgo.Record
	ctx  context.Context
	run  string
	item broker.WorkItem

	buf   []byte  // output not yet stored
	parts []int64 // offsets of the parts stored
	token string  // the parts' token

	once sync.Once // the final acknowledgement
}

func (w *queueWork) Item() broker.WorkItem { return w.item }

// Progress renews the item's lock; it may be called at any time, from any
// goroutine (after Finish it does nothing).
func (w *queueWork) Progress() error {
	w.r.Ack(kgo.AckRenew)
	ctx, cancel := context.WithTimeout(context.Background(), w.q.opts.AckWait/2)
	defer cancel()
	return w.c.FlushAcks(ctx)
}

// GiveBack releases the item to another worker.
func (w *queueWork) GiveBack() error {
	w.end(kgo.AckRelease)
	return nil
}

// end acknowledges the item for good, once, and frees its client.
func (w *queueWork) end(status kgo.AckStatus) {
	w.once.Do(func() {
		w.buf = nil
		w.r.Ack(status)
		flush(w.c)
		w.q.release(w.c)
	})
}

// Write keeps the output, storing it in parts of a record each when it
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
			w.buf = make([]byte, 0, min(max, 64<<10))
		}
		k := min(len(p), max-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
	}
	return n, nil
}

func (w *queueWork) result(kind string, value []byte) *kgo.Record {
	return &kgo.Record{Topic: w.q.resultsTopic(w.run), Key: []byte(w.item.ID), Value: value, Headers: []kgo.RecordHeader{
		{Key: hdrKind, Value: []byte(kind)}, {Key: hdrID, Value: []byte(w.item.ID)}, {Key: hdrToken, Value: []byte(w.token)},
	}}
}

func (w *queueWork) storePart() error {
	if w.token == "" {
		w.token = broker.Token()
	}
	r := w.result("part", w.buf)
	if err := w.q.pr.ProduceSync(w.ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("farpipe: queue %s: storing part of a result: %w", w.q.s.addr.Topic, err)
	}
	w.parts = append(w.parts, r.Offset)
	w.buf = make([]byte, 0, cap(w.buf)) // the record may still be referenced
	return nil
}

// Finish stores the result, then accepts the item.
func (w *queueWork) Finish(ctx context.Context, st broker.WorkStatus) error {
	body := w.buf
	if len(w.parts) > 0 {
		if len(w.buf) > 0 {
			if err := w.storePart(); err != nil {
				return err
			}
		}
		var b bytes.Buffer
		for _, off := range w.parts {
			fmt.Fprintln(&b, off)
		}
		body = b.Bytes()
	}
	r := w.result("done", body)
	r.Headers = append(r.Headers,
		kgo.RecordHeader{Key: hdrStatus, Value: []byte(strconv.Itoa(st.Code))},
		kgo.RecordHeader{Key: hdrNote, Value: []byte(broker.OneLine(st.Note))},
		kgo.RecordHeader{Key: hdrWorker, Value: []byte(broker.OneLine(w.q.opts.Worker))},
		kgo.RecordHeader{Key: hdrParts, Value: []byte(strconv.Itoa(len(w.parts)))})
	if err := w.q.pr.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("farpipe: queue %s: storing a result: %w", w.q.s.addr.Topic, err)
	}
	w.end(kgo.AckAccept)
	return nil
}
