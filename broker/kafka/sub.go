package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/farpipe/farpipe/broker"
)

// subscription reads the topic's partition from an offset. With a durable
// name it keeps its place as the committed offset of the consumer group of
// that name (a simple commit: the group has no members, so a subscriber
// that is killed is replaced at once, with no rebalance to wait for). The
// committed offset is the first message not yet acknowledged: messages
// acknowledged out of order (the pieces of a record, acknowledged when its
// last piece was written) move it only when every message before them is
// acknowledged.
//
// Next, Ack and Close are called from one goroutine at a time (Sub's); mu
// guards the acknowledgement state anyway.
type subscription struct {
	s      *Stream
	cl     *kgo.Client // nil when there is nothing to read
	group  string
	end    int64 // without follow: the end offset when Subscribe was called
	follow bool
	max    int
	done   bool
	buf    []*kgo.Record
	once   sync.Once

	mu        sync.Mutex
	pending   []pend // delivered and not yet committed, by offset
	committed int64  // the offset committed for the group
	want      int64  // the offset to commit (> committed when a commit failed)
}

type pend struct {
	off   int64
	acked bool
}

// Subscribe implements broker.Stream.
func (s *Stream) Subscribe(ctx context.Context, cfg broker.SubConfig) (broker.Subscription, error) {
	if cfg.MaxPending == 0 {
		cfg.MaxPending = broker.DefaultMaxPending
	}
	lo, hi, err := s.offsets(ctx)
	if err != nil {
		return nil, err
	}
	sub := &subscription{s: s, group: cfg.Durable, end: hi, follow: cfg.Follow, max: cfg.MaxPending}
	start, fromGroup := int64(-1), false
	if cfg.Durable != "" {
		resp, err := s.adm.FetchOffsets(ctx, cfg.Durable)
		if errors.Is(err, kerr.GroupIDNotFound) { // a new group (kfake says so)
			resp, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("farpipe: the place of consumer group %s on Kafka topic %s: %w", cfg.Durable, s.addr.Topic, err)
		}
		if o, ok := resp.Lookup(s.addr.Topic, 0); ok && o.Err == nil && o.At >= 0 {
			start, fromGroup = o.At, true
		}
	}
	if fromGroup && start < lo {
		return nil, fmt.Errorf("farpipe: Kafka topic %s deleted %d messages (positions %d to %d, its retention) before consumer group %s read them: they are lost; to go on, give a new --group with --from %d", s.addr.Topic, lo-start, start+1, lo, cfg.Durable, lo+1)
	}
	if start < 0 {
		start, err = s.startOffset(ctx, cfg, hi)
		if err != nil {
			return nil, err
		}
	}
	start = min(max(start, lo), hi)
	sub.committed, sub.want = start, start
	if cfg.Durable != "" && !fromGroup {
		// The group is new: its place is where --from said, now, so that
		// a restart resumes there even before anything was acknowledged.
		if err := sub.commit(ctx, start); err != nil {
			return nil, err
		}
	}
	if !cfg.Follow && start >= hi {
		sub.done = true
		return sub, nil
	}
	sub.cl, err = kgo.NewClient(append(s.addr.options(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.addr.Topic: {0: kgo.NewOffset().At(start)}}),
		kgo.FetchMaxBytes(FetchMaxBytes), kgo.FetchMaxPartitionBytes(FetchMaxBytes),
		kgo.FetchMaxWait(time.Second))...)
	if err != nil {
		return nil, fmt.Errorf("farpipe: Kafka client for %s: %w", s.addr, err)
	}
	return sub, nil
}

// startOffset is where a new subscriber starts.
func (s *Stream) startOffset(ctx context.Context, cfg broker.SubConfig, end int64) (int64, error) {
	switch cfg.From {
	case broker.FromNew:
		return end, nil
	case broker.FromSeq:
		return int64(min(max(cfg.Seq, 1)-1, uint64(end))), nil
	case broker.FromTime:
		l, err := s.adm.ListOffsetsAfterMilli(ctx, cfg.Time.UnixMilli(), s.addr.Topic)
		if err != nil {
			return 0, fmt.Errorf("farpipe: finding the time %v in Kafka topic %s: %w", cfg.Time, s.addr.Topic, err)
		}
		if o, ok := l.Lookup(s.addr.Topic, 0); ok && o.Err == nil && o.Offset >= 0 {
			return o.Offset, nil
		}
		return end, nil
	}
	return 0, nil
}

// Next implements broker.Subscription.
func (sub *subscription) Next(ctx context.Context) (broker.Delivery, error) {
	var failing time.Time // when the fetches began to fail
	for !sub.done && len(sub.buf) == 0 {
		fs := sub.cl.PollRecords(ctx, sub.max)
		if ctx.Err() != nil {
			return broker.Delivery{}, context.Cause(ctx)
		}
		if err := fetchErr(fs); err != nil {
			// The client reconnects by itself: a broker away for a
			// while (a restart, a leader change) is waited for.
			var ke *kerr.Error
			if failing.IsZero() {
				failing = time.Now()
			}
			if errors.Is(err, kgo.ErrClientClosed) || errors.As(err, &ke) && !ke.Retriable || time.Since(failing) > DeliveryTimeout {
				return broker.Delivery{}, fmt.Errorf("farpipe: reading Kafka topic %s: %w", sub.s.addr.Topic, err)
			}
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return broker.Delivery{}, err
			}
			continue
		}
		failing = time.Time{}
		sub.buf = fs.Records()
	}
	if sub.done {
		return broker.Delivery{}, io.EOF
	}
	r := sub.buf[0]
	sub.buf[0] = nil
	sub.buf = sub.buf[1:]
	if !sub.follow && r.Offset >= sub.end-1 {
		sub.done = true
		sub.buf = nil
		if r.Offset >= sub.end { // beyond the end when sub started
			return broker.Delivery{}, io.EOF
		}
	}
	off := r.Offset
	ack := func(context.Context) error { return nil }
	if sub.group != "" {
		sub.mu.Lock()
		sub.pending = append(sub.pending, pend{off: off})
		sub.mu.Unlock()
		ack = func(ctx context.Context) error { return sub.ack(ctx, off) }
	}
	return broker.Delivery{Data: r.Value, Publisher: string(r.Key), Pos: uint64(off) + 1, Ack: ack}, nil
}

// ack acknowledges the message at off, and commits the group's offset
// when it moves: after the last message before which every one is
// acknowledged.
func (sub *subscription) ack(ctx context.Context, off int64) error {
	sub.mu.Lock()
	i := sort.Search(len(sub.pending), func(i int) bool { return sub.pending[i].off >= off })
	if i < len(sub.pending) && sub.pending[i].off == off {
		sub.pending[i].acked = true
	}
	n := 0
	for n < len(sub.pending) && sub.pending[n].acked {
		sub.want = sub.pending[n].off + 1
		n++
	}
	sub.pending = sub.pending[:copy(sub.pending, sub.pending[n:])]
	want, committed := sub.want, sub.committed
	sub.mu.Unlock()
	if want <= committed {
		return nil
	}
	return sub.commit(ctx, want)
}

// commit commits off as the group's offset.
func (sub *subscription) commit(ctx context.Context, off int64) error {
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: sub.s.addr.Topic, Partition: 0, At: off, LeaderEpoch: -1})
	resp, err := sub.s.adm.CommitOffsets(ctx, sub.group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		// Not lost: the next commit carries it (offsets are cumulative).
		return fmt.Errorf("farpipe: committing the place of consumer group %s on Kafka topic %s: %w", sub.group, sub.s.addr.Topic, err)
	}
	sub.mu.Lock()
	sub.committed = max(sub.committed, off)
	sub.mu.Unlock()
	return nil
}

// Close implements broker.Subscription: it commits what a failed commit
// left, and stops reading.
func (sub *subscription) Close() error {
	sub.once.Do(func() {
		sub.mu.Lock()
		want, committed := sub.want, sub.committed
		sub.mu.Unlock()
		if sub.group != "" && want > committed {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = sub.commit(ctx, want)
			cancel()
		}
		if sub.cl != nil {
			sub.cl.Close()
		}
	})
	return nil
}
