package amqp

import (
	"context"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/farpipe/farpipe/broker"
)

// The index of a stream (the stream queue QUEUE.farpipe-pubs) records the
// runs of its publishers, so that a publisher restarted with the same id
// finds its last message (broker.Publisher.Last) without reading the whole
// stream. A run stores, before it publishes anything:
//
//	1 ID TOKEN           the run began (TOKEN is new on every run)
//	2 ID TOKEN START     the run's messages are all at offsets >= START
//
// The second entry follows at once when the run had to find the stream's
// end anyway (an ID with earlier runs); on an ID's first run, it is stored
// when the run's first message (or another's after the run began) comes
// back to a consumer attached at "next".
type indexEntry struct {
	kind      int // 1 or 2
	id, token string
	start     int64 // with kind 2
}

func (e indexEntry) String() string {
	if e.kind == 2 {
		return "2 " + e.id + " " + e.token + " " + strconv.FormatInt(e.start, 10)
	}
	return "1 " + e.id + " " + e.token
}

// parseIndexEntry reads an entry of the index; it never panics (the bytes
// come from the network).
func parseIndexEntry(b []byte) (indexEntry, bool) {
	f := strings.Fields(string(b))
	if len(f) < 3 || broker.CheckID("id", f[1]) != nil || broker.CheckID("token", f[2]) != nil {
		return indexEntry{}, false
	}
	e := indexEntry{id: f[1], token: f[2]}
	switch {
	case f[0] == "1" && len(f) == 3:
		e.kind = 1
	case f[0] == "2" && len(f) == 4:
		start, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil || start < 0 {
			return indexEntry{}, false
		}
		e.kind, e.start = 2, start
	default:
		return indexEntry{}, false
	}
	return e, true
}

// run is an earlier run of a publisher: its start, or -1 when unknown.
type run struct {
	token string
	start int64
}

// storeEntry stores an entry in the index and waits for its confirmation.
func (s *Stream) storeEntry(ctx context.Context, e indexEntry) error {
	return retry(ctx, func() error {
		ch, err := s.c.channel(ctx)
		if err != nil {
			return err
		}
		defer ch.Close()
		if err := publishWait(ctx, ch, s.queue+IndexSuffix, amqp.Publishing{Body: []byte(e.String()), DeliveryMode: amqp.Persistent}); err != nil {
			return transient(s, err)
		}
		return nil
	})
}

// runs stores this run's first entry and returns the earlier runs of id,
// oldest first.
func (s *Stream) runs(ctx context.Context, id, tok string) ([]run, error) {
	if err := s.storeEntry(ctx, indexEntry{kind: 1, id: id, token: tok}); err != nil {
		return nil, err
	}
	var runs []run
	at := map[string]int{}
	err := s.scan(ctx, s.queue+IndexSuffix, "first", func(_ int64, d *amqp.Delivery) bool {
		e, ok := parseIndexEntry(d.Body)
		switch {
		case !ok || e.id != id:
		case e.token == tok:
			return e.kind == 1
		case e.kind == 1:
			at[e.token] = len(runs)
			runs = append(runs, run{token: e.token, start: -1})
		case e.kind == 2:
			if i, ok := at[e.token]; ok {
				runs[i].start = e.start
			}
		}
		return false
	})
	return runs, err
}

// findLast records this run in the index and finds the last message of
// the publisher's earlier runs: it reads the stream from the start of the
// publisher's latest run (or an earlier one's, when that run stored
// nothing) up to the stream's end.
func (p *publisher) findLast(ctx context.Context) error {
	s := p.s
	p.token = token()
	runs, err := s.runs(ctx, p.id, p.token)
	if err != nil {
		return err
	}
	if len(runs) == 0 { // the first run: its start is learned when it publishes
		return p.watchStart(ctx)
	}
	end, err := s.end(ctx)
	if err != nil {
		return err
	}
	if err := s.storeEntry(ctx, indexEntry{kind: 2, id: p.id, token: p.token, start: end}); err != nil {
		return err
	}
	hi := end
	for k := len(runs) - 1; k >= 0 && p.last == nil; k-- {
		lo := runs[k].start
		for j := k - 1; lo < 0 && j >= 0; j-- { // a run that died before its start was stored
			lo = runs[j].start
		}
		var from any = max(lo, 0)
		if lo < 0 {
			from = "first"
		}
		if lo >= hi {
			continue
		}
		err := s.scan(ctx, s.queue, from, func(off int64, d *amqp.Delivery) bool {
			if off >= hi {
				return true
			}
			if pub, _ := d.Headers[hdrPublisher].(string); pub == p.id && d.Headers[hdrMark] == nil {
				p.last, p.lastPos = d.Body, uint64(off)+1
			}
			return false
		})
		if err != nil {
			return err
		}
		hi = max(lo, 0)
	}
	return nil
}

// watchStart attaches a consumer at the stream's "next" offset; a
// goroutine stores the run's start when the first message comes.
func (p *publisher) watchStart(ctx context.Context) error {
	s := p.s
	ch, err := s.c.channel(ctx)
	if err != nil {
		return err
	}
	if err := ch.Qos(1, 0, false); err != nil {
		ch.Close()
		return transient(s, err)
	}
	ds, err := ch.Consume(s.queue, "", false, false, false, false, amqp.Table{hdrOffset: "next"})
	if err != nil {
		ch.Close()
		return s.declareError(err, broker.StreamConfig{})
	}
	sctx, cancel := context.WithCancel(context.Background())
	p.startCancel = cancel
	p.startDone = make(chan struct{})
	go func() {
		defer close(p.startDone)
		defer ch.Close()
		var d amqp.Delivery
		var ok bool
		select {
		case d, ok = <-ds:
		case <-sctx.Done():
			return
		}
		off, isOff := offsetOf(&d)
		if !ok || !isOff {
			return // a later run scans from an earlier start
		}
		_ = s.storeEntry(sctx, indexEntry{kind: 2, id: p.id, token: p.token, start: off})
	}()
	return nil
}

// stopStart waits a while for the goroutine of watchStart when the run
// published something, then stops it.
func (p *publisher) stopStart() {
	if p.startDone == nil {
		return
	}
	if p.pos.Load() > p.lastPos {
		t := time.NewTimer(10 * time.Second)
		select {
		case <-p.startDone:
		case <-t.C:
		}
		t.Stop()
	}
	p.startCancel()
	<-p.startDone
}
