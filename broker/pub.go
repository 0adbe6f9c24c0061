package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/farpipe/farpipe/flow"
)

// Defaults of PubConfig's zero fields.
const (
	// DefaultMaxMessage is the largest message Pub makes, header included:
	// well below NATS's default max_payload (1 MiB), large enough that
	// small records travel hundreds to a message.
	DefaultMaxMessage = 64 << 10
	// DefaultMaxInFlight is how many messages Pub has sent and not yet
	// seen confirmed: with DefaultMaxMessage, 4 MiB.
	DefaultMaxInFlight = 64
	// DefaultRetryFor is how long Pub keeps sending a message again that
	// the broker did not confirm (a lost connection, a leader election).
	DefaultRetryFor = time.Minute
)

// MinMaxMessage is the smallest PubConfig.MaxMessage.
const MinMaxMessage = 64

// PubConfig says how Pub publishes.
type PubConfig struct {
	// ID is the publisher's name in the stream, shown by sub --label. When
	// empty, Pub makes one that is new on every run (HOST-PID-RANDOM).
	// With a given ID, Pub takes its input for the same records as the
	// earlier runs under that ID (a file published again after a crash):
	// it skips the records the stream already holds from ID and publishes
	// the rest, so that a restart never duplicates a record. See Append.
	ID string
	// Append, with ID, takes the input for new records that follow those
	// the stream holds from ID: nothing is skipped.
	Append bool
	// Split finds the records; nil means flow.Lines().
	Split flow.Splitter
	// MaxMessage bounds a message's size; 0 means DefaultMaxMessage. A
	// longer record travels in pieces (of one record each) that Sub joins.
	MaxMessage int
	// MaxInFlight bounds the messages sent and not yet confirmed; 0 means
	// DefaultMaxInFlight.
	MaxInFlight int
	// RetryFor bounds how long a message the broker did not confirm is
	// sent again; 0 means DefaultRetryFor.
	RetryFor time.Duration
	// Stored, if not nil, is called with the whole records and the bytes
	// of each message once it is stored for good (confirmed, and so are
	// the messages before it), as PubStats counts them: live counts for
	// metrics. It runs on Pub's goroutine with Pub's lock held: it must
	// not block or call into Pub.
	Stored func(records, bytes int)
}

// PubStats counts what Pub did.
type PubStats struct {
	ID       string // the publisher's name
	Records  uint64 // records stored
	Skipped  uint64 // records of the input that the stream held already
	Messages uint64 // messages stored
	Bytes    uint64 // bytes of records stored
}

func (c PubConfig) withDefaults() (PubConfig, error) {
	if c.Split == nil {
		c.Split = flow.Lines()
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.RetryFor == 0 {
		c.RetryFor = DefaultRetryFor
	}
	switch {
	case c.MaxMessage < MinMaxMessage || c.MaxMessage < 4*c.Split.Width()+MaxHeader:
		return c, fmt.Errorf("farpipe: the message size %d is too small: give at least %d bytes", c.MaxMessage, max(MinMaxMessage, 4*c.Split.Width()+MaxHeader))
	case c.MaxInFlight < 0:
		return c, fmt.Errorf("farpipe: the number of messages in flight must be positive, not %d", c.MaxInFlight)
	case c.RetryFor < 0:
		return c, fmt.Errorf("farpipe: the retry time must be positive, not %v", c.RetryFor)
	}
	if c.ID == "" {
		c.ID = randomID()
		c.Append = true
	}
	return c, CheckID("publisher id", c.ID)
}

// randomID is a publisher name new on every run: HOST-PID-RANDOM.
func randomID() string {
	h, _ := os.Hostname()
	h = strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, h)
	if len(h) > 32 {
		h = h[:32]
	}
	if h == "" {
		h = "farpipe"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return h + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// Pub reads records from r and publishes them to s, packed whole into
// messages. It returns when r is at its end and every record is stored
// (confirmed by the broker), or at the first error: then records from the
// one the error names on may or may not be stored. r is read by the
// calling goroutine only.
func Pub(ctx context.Context, s Stream, r io.Reader, cfg PubConfig) (PubStats, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return PubStats{ID: cfg.ID}, err
	}
	p, err := s.Publisher(ctx, cfg.ID)
	if err != nil {
		return PubStats{ID: cfg.ID}, err
	}
	defer p.Close()
	pk := &packer{cfg: cfg, stats: PubStats{ID: cfg.ID}}
	pk.w = newWindow(p, cfg)
	if err := pk.resume(ctx, p); err != nil {
		return pk.stats, err
	}
	err = pk.run(ctx, r)
	if err == nil {
		err = pk.flush(ctx)
	}
	if err == nil {
		err = pk.w.drain(ctx)
	}
	pk.stats.Records, pk.stats.Messages, pk.stats.Bytes = pk.w.counts()
	return pk.stats, err
}

// packer packs records into messages.
type packer struct {
	cfg   PubConfig
	w     *window
	stats PubStats

	rec uint64 // index of the current record
	off uint64 // bytes of the current record already packed or skipped

	skipRecs  uint64 // whole records of the input that are stored already
	skipBytes uint64 // then bytes of the next one that are stored already
	after     uint64 // the position the first message must follow, or 0

	msg   []byte // the message being filled, or nil
	hdr   Header
	nrec  int
	bytes int
}

// resume learns how far the publisher got in earlier runs.
func (pk *packer) resume(ctx context.Context, p Publisher) error {
	last, pos, err := p.Last(ctx)
	if err != nil || last == nil {
		return err
	}
	recs, partial, err := Stored(last)
	if err != nil {
		return fmt.Errorf("farpipe: the last message of publisher %s in the stream (at %d) cannot be read (%w): give another --id", pk.cfg.ID, pos, err)
	}
	pk.after = pos
	pk.w.floor = pos
	if pk.cfg.Append {
		// A record left in pieces by a dead run stays unfinished: Sub drops it.
		pk.rec = recs
		if partial > 0 {
			pk.rec++
		}
		return nil
	}
	pk.skipRecs, pk.skipBytes = recs, partial
	return nil
}

// run reads r to its end, packing and publishing.
func (pk *packer) run(ctx context.Context, r io.Reader) error {
	width := pk.cfg.Split.Width()
	keep := max(width-1, 1) // bytes kept back when cutting a piece: a record end may begin there
	buf := make([]byte, 0, 2*pk.cfg.MaxMessage)
	for {
		if len(buf) == cap(buf) { // one record fills the buffer: send a piece of it
			cut := len(buf) - keep
			if err := pk.feed(ctx, buf[:cut], false); err != nil {
				return err
			}
			buf = buf[:copy(buf, buf[cut:])]
		}
		old := len(buf)
		n, rerr := r.Read(buf[old:cap(buf)])
		buf = buf[:old+n]
		start, from := 0, max(old-width, 0)
		for {
			b := pk.cfg.Split.Next(buf[start:], from-start)
			if b <= 0 {
				break
			}
			if err := pk.feed(ctx, buf[start:start+b], true); err != nil {
				return err
			}
			start += b
			from = start
		}
		buf = buf[:copy(buf, buf[start:])]
		if rerr == io.EOF {
			if len(buf) > 0 { // the last record, without its separator
				if err := pk.feed(ctx, buf, true); err != nil {
					return err
				}
			}
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("farpipe: reading the input: %w", rerr)
		}
		// Send what there is when the input has no more for now (a short
		// read): records wait for more company only while input flows.
		if old+n < cap(buf) && pk.msg != nil {
			if err := pk.flush(ctx); err != nil {
				return err
			}
		}
	}
}

// feed packs data, the next bytes of the current record; end says that
// the record ends with them.
func (pk *packer) feed(ctx context.Context, data []byte, end bool) error {
	if pk.skipRecs > 0 { // stored by an earlier run
		pk.off += uint64(len(data))
		if end {
			pk.skipRecs--
			pk.stats.Skipped++
			pk.rec++
			pk.off = 0
		}
		return nil
	}
	if pk.skipBytes > 0 {
		k := min(uint64(len(data)), pk.skipBytes)
		data = data[k:]
		pk.off += k
		pk.skipBytes -= k
		if len(data) == 0 {
			return nil
		}
	}
	if pk.off == 0 && end {
		if pk.msg != nil && len(pk.msg)+RecordSize(len(data)) > pk.cfg.MaxMessage {
			if err := pk.flush(ctx); err != nil {
				return err
			}
		}
		if MaxHeader+RecordSize(len(data)) <= pk.cfg.MaxMessage {
			if pk.msg == nil {
				pk.hdr = Header{Rec: pk.rec}
				pk.msg = AppendHeader(pk.w.buffer(pk.cfg.MaxMessage), pk.hdr)
			}
			pk.msg = AppendRecord(pk.msg, data)
			pk.nrec++
			pk.bytes += len(data)
			pk.rec++
			return nil
		}
	}
	return pk.pieces(ctx, data, end)
}

// pieces sends data, part of a record too long for one message, in
// messages of one piece each.
func (pk *packer) pieces(ctx context.Context, data []byte, end bool) error {
	if err := pk.flush(ctx); err != nil {
		return err
	}
	room := pk.cfg.MaxMessage - MaxHeader - (RecordSize(pk.cfg.MaxMessage) - pk.cfg.MaxMessage) // header and length
	for len(data) > 0 {
		n := min(len(data), room)
		last := end && n == len(data)
		pk.hdr = Header{Rec: pk.rec, Off: pk.off, Cont: pk.off > 0, More: !last}
		pk.msg = AppendRecord(AppendHeader(pk.w.buffer(MaxHeader+RecordSize(n)), pk.hdr), data[:n])
		pk.bytes = n
		pk.nrec = 0
		if last {
			pk.nrec = 1
		}
		if err := pk.flush(ctx); err != nil {
			return err
		}
		pk.off += uint64(n)
		data = data[n:]
	}
	if end {
		pk.rec++
		pk.off = 0
	}
	return nil
}

// flush publishes the message being filled, if any.
func (pk *packer) flush(ctx context.Context) error {
	if pk.msg == nil {
		return nil
	}
	m := Message{
		ID:        pk.cfg.ID + "-" + strconv.FormatUint(pk.hdr.Rec, 10) + "-" + strconv.FormatUint(pk.hdr.Off, 10),
		Publisher: pk.cfg.ID,
		Data:      pk.msg,
	}
	after := pk.after
	pk.after = 0
	err := pk.w.publish(ctx, m, after, pk.hdr.Rec, pk.nrec, pk.bytes)
	pk.msg, pk.nrec, pk.bytes = nil, 0, 0
	return err
}

// fullError adds to a publishing error which records are not stored.
func fullError(id string, rec uint64, err error) error {
	if errors.Is(err, ErrFull) {
		return fmt.Errorf("%w; publisher %s: records from #%d on (counting from 0) are not stored", err, id, rec)
	}
	return fmt.Errorf("%w (publisher %s, from record #%d on)", err, id, rec)
}
