package broker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
)

// SubOptions says how Sub reads a stream and writes its records.
type SubOptions struct {
	SubConfig
	// Label starts every record with its publisher's name and a tab.
	Label bool
	// MaxRecord bounds a record that arrives in pieces, which Sub holds
	// until it is whole; 0 means DefaultMaxRecord.
	MaxRecord int
	// Progress, if not nil, is called on Sub's goroutine after each
	// message delivered, with the counts so far and the messages of the
	// stream not yet delivered to this subscriber (Delivery.Pending): live
	// counts for metrics. It must not block.
	Progress func(st SubStats, pending uint64)
	// Checkpoint, if not nil, keeps which messages' records were written
	// beside the output: Sub skips the messages it says were written, and
	// saves it after writing (and flushing) records and before
	// acknowledging their messages (SubFile).
	Checkpoint Checkpoint
}

// DefaultMaxRecord is SubOptions.MaxRecord's default.
const DefaultMaxRecord = 64 << 20

// SubStats counts what Sub wrote.
type SubStats struct {
	Records  uint64 // records written
	Messages uint64 // messages whose records were written
	Bytes    uint64 // bytes of records written (labels not counted)
	Again    uint64 // messages delivered again and not written again
}

// ErrRecordTooBig: a record in pieces outgrew SubOptions.MaxRecord.
var ErrRecordTooBig = errors.New("farpipe: a record is larger than the limit")

// Sub reads the stream s and writes its records to w, each whole, and
// acknowledges a message only after its records were written to w (and w
// flushed, when it is a *bufio.Writer). A record that arrived in pieces is
// written when its last piece arrives. Messages delivered again (after a
// lost acknowledgement) are not written again. It returns nil at the end
// of the stream (without Follow), or the first error.
func Sub(ctx context.Context, s Stream, w io.Writer, o SubOptions) (SubStats, error) {
	if o.MaxRecord == 0 {
		o.MaxRecord = DefaultMaxRecord
	}
	if o.Durable != "" {
		if err := CheckID("durable name", o.Durable); err != nil {
			return SubStats{}, err
		}
	}
	if o.Durable != "" {
		// A resumed consumer delivers the pieces of a record again first,
		// in order: otherwise its last piece could come first, without its
		// beginning, and the record would be lost. A checkpoint skips what
		// was written; without one, the messages acknowledged after the
		// pieces are written again.
		o.Replay = true
	}
	sub, err := s.Subscribe(ctx, o.SubConfig)
	if err != nil {
		return SubStats{}, err
	}
	defer sub.Close()
	r := &reader{o: o, bw: bufio.NewWriterSize(w, 64<<10), partial: map[string]*partial{}, seen: newSeen(1 << 16)}
	if o.Checkpoint != nil {
		r.done = newDone(o.Checkpoint.Written())
	}
	for {
		d, err := sub.Next(ctx)
		if err == io.EOF {
			return r.stats, nil
		}
		if err != nil {
			return r.stats, err
		}
		if err := r.deliver(ctx, d); err != nil {
			return r.stats, err
		}
		if o.Progress != nil {
			o.Progress(r.stats, d.Pending)
		}
	}
}

// reader writes the records of deliveries; it runs on Sub's goroutine.
type reader struct {
	o       SubOptions
	bw      *bufio.Writer
	partial map[string]*partial // records in pieces, by publisher
	seen    *seen
	done    *done // with a Checkpoint: the messages written, this run and before
	recs    [][]byte
	stats   SubStats
}

// partial is a record of which pieces arrived.
type partial struct {
	rec  uint64
	data []byte
	ds   []Delivery // the pieces' messages, acknowledged when it is written
}

func (r *reader) deliver(ctx context.Context, d Delivery) error {
	if done, ok := r.seen.get(d.Pos); ok { // delivered again
		r.stats.Again++
		if done {
			_ = d.Ack(ctx)
		}
		return nil
	}
	if r.done != nil {
		if r.done.has(d.Pos) { // written before Sub started
			r.stats.Again++
			r.seen.add(d.Pos, true)
			_ = d.Ack(ctx)
			return nil
		}
		r.done.take(d.Pos)
	}
	h, recs, err := Unpack(d.Data, r.recs[:0])
	r.recs = recs[:0]
	if err != nil {
		return fmt.Errorf("%w at position %d of the stream (from publisher %q): skip it with --from %d", err, d.Pos, d.Publisher, d.Pos+1)
	}
	p := r.partial[d.Publisher]
	if p != nil && (!h.Cont || h.Rec != p.rec || h.Off != uint64(len(p.data))) {
		if err := r.drop(ctx, d.Publisher); err != nil { // its publisher never finished it
			return err
		}
		p = nil
	}
	if h.Cont || h.More {
		return r.piece(ctx, d, h, recs[0], p)
	}
	if err := r.write(d.Publisher, recs...); err != nil {
		return err
	}
	r.seen.add(d.Pos, true)
	if err := r.save(d.Pos); err != nil {
		return err
	}
	return r.ack(ctx, d)
}

// piece handles a message holding a piece of a record.
func (r *reader) piece(ctx context.Context, d Delivery, h Header, data []byte, p *partial) error {
	if p == nil {
		if h.Cont { // its beginning is before where this subscription started
			r.seen.add(d.Pos, true)
			if r.done != nil {
				r.done.put(d.Pos) // nothing to write: saved with the next message written
			}
			return r.ack(ctx, d)
		}
		p = &partial{rec: h.Rec}
		r.partial[d.Publisher] = p
	}
	if len(p.data)+len(data) > r.o.MaxRecord {
		return fmt.Errorf("%w of %d bytes (publisher %s, record #%d): give a larger --max-record", ErrRecordTooBig, r.o.MaxRecord, d.Publisher, h.Rec)
	}
	p.data = append(p.data, data...)
	p.ds = append(p.ds, d)
	r.seen.add(d.Pos, false)
	if h.More {
		return nil
	}
	delete(r.partial, d.Publisher)
	if err := r.write(d.Publisher, p.data); err != nil {
		return err
	}
	for _, pd := range p.ds {
		r.seen.add(pd.Pos, true)
		if r.done != nil {
			r.done.put(pd.Pos)
		}
	}
	if err := r.save(); err != nil {
		return err
	}
	for _, pd := range p.ds {
		if err := r.ack(ctx, pd); err != nil {
			return err
		}
	}
	return nil
}

// drop forgets the unfinished record of publisher and acknowledges its
// pieces: its publisher went on with other records.
func (r *reader) drop(ctx context.Context, publisher string) error {
	p := r.partial[publisher]
	delete(r.partial, publisher)
	for _, pd := range p.ds {
		r.seen.add(pd.Pos, true)
		if r.done != nil {
			r.done.put(pd.Pos)
		}
	}
	if err := r.save(); err != nil {
		return err
	}
	for _, pd := range p.ds {
		_ = pd.Ack(ctx)
	}
	return nil
}

// save marks the messages at pos as written and saves the checkpoint,
// when there is one: after their records were flushed to the output and
// before they are acknowledged.
func (r *reader) save(pos ...uint64) error {
	if r.done == nil {
		return nil
	}
	for _, p := range pos {
		r.done.put(p)
	}
	if err := r.o.Checkpoint.Save(r.done.written()); err != nil {
		return fmt.Errorf("farpipe: saving what sub wrote: %w: the records after the last save are not acknowledged; fix that (room on the disk, the file's permissions) and run the same sub again, which goes on from there", err)
	}
	return nil
}

// write writes records and flushes them to the output.
func (r *reader) write(publisher string, recs ...[]byte) error {
	for _, rec := range recs {
		if r.o.Label {
			r.bw.WriteString(publisher)
			r.bw.WriteByte('\t')
		}
		r.bw.Write(rec)
		r.stats.Records++
		r.stats.Bytes += uint64(len(rec))
	}
	if err := r.bw.Flush(); err != nil {
		return fmt.Errorf("farpipe: writing the output: %w", err)
	}
	r.stats.Messages++
	return nil
}

// ack acknowledges d. A lost acknowledgement is not an error: the message
// is delivered again, and seen keeps it from being written twice.
func (r *reader) ack(ctx context.Context, d Delivery) error {
	_ = d.Ack(ctx)
	return ctx.Err()
}

// seen remembers the positions of the last messages delivered, and
// whether their records were written, so that a message delivered again is
// recognized. It holds at most size positions: a message is delivered again
// only while it is unacknowledged, and at most MaxPending are.
type seen struct {
	ring []uint64
	next int
	done map[uint64]bool
}

func newSeen(size int) *seen {
	return &seen{ring: make([]uint64, 0, size), done: make(map[uint64]bool, size)}
}

func (s *seen) get(pos uint64) (done, ok bool) {
	done, ok = s.done[pos]
	return
}

func (s *seen) add(pos uint64, done bool) {
	if _, ok := s.done[pos]; ok {
		s.done[pos] = done
		return
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, pos)
	} else {
		delete(s.done, s.ring[s.next])
		s.ring[s.next] = pos
		s.next = (s.next + 1) % len(s.ring)
	}
	s.done[pos] = done
}
