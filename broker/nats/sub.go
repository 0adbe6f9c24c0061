package nats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/farpipe/farpipe/broker"
)

// subscription reads a pull consumer with explicit acknowledgements: the
// server delivers at most MaxPending messages not yet acknowledged, so a
// slow subscriber holds the messages back in the stream, never in memory.
type subscription struct {
	s      *Stream
	it     jetstream.MessagesContext
	end    uint64 // without Follow: the stream's last position at the start
	follow bool
	done   bool // the end was reached
	once   sync.Once
}

// Subscribe implements broker.Stream.
func (s *Stream) Subscribe(ctx context.Context, cfg broker.SubConfig) (broker.Subscription, error) {
	if cfg.MaxPending == 0 {
		cfg.MaxPending = broker.DefaultMaxPending
	}
	info, err := s.s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("farpipe: stream %s: %w", s.name, err)
	}
	c, err := s.consumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	sub := &subscription{s: s, end: info.State.LastSeq, follow: cfg.Follow}
	ci := c.CachedInfo()
	if !cfg.Follow && (sub.end == 0 || ci.NumPending == 0 && ci.NumAckPending == 0 || ci.Delivered.Stream >= sub.end && ci.NumAckPending == 0) {
		sub.done = true // nothing to read up to the end
		return sub, nil
	}
	// A missed heartbeat (a loaded machine, a relay that was away) makes
	// the iterator pull again rather than fail the subscription.
	it, err := c.Messages(jetstream.PullMaxMessages(cfg.MaxPending), jetstream.PullHeartbeat(2*time.Second),
		jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		return nil, fmt.Errorf("farpipe: reading stream %s: %w", s.name, err)
	}
	sub.it = it
	return sub, nil
}

// consumer returns the durable consumer cfg names, or a new one.
func (s *Stream) consumer(ctx context.Context, cfg broker.SubConfig) (jetstream.Consumer, error) {
	if cfg.Durable != "" {
		c, err := s.s.Consumer(ctx, cfg.Durable)
		if err == nil {
			return s.resume(ctx, c, cfg.Replay)
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("farpipe: consumer %s of stream %s: %w", cfg.Durable, s.name, err)
		}
	}
	cc := jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       AckWait,
		MaxAckPending: cfg.MaxPending,
		FilterSubject: SubjectPrefix + s.name + ".*",
	}
	if cfg.Durable == "" {
		cc.InactiveThreshold = EphemeralTimeout
	}
	switch cfg.From {
	case broker.FromStart:
		cc.DeliverPolicy = jetstream.DeliverAllPolicy
	case broker.FromNew:
		cc.DeliverPolicy = jetstream.DeliverNewPolicy
	case broker.FromSeq:
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, max(cfg.Seq, 1)
	case broker.FromTime:
		t := cfg.Time
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	c, err := s.s.CreateConsumer(ctx, cc)
	if errors.Is(err, jetstream.ErrConsumerExists) && cfg.Durable != "" {
		c, err = s.s.Consumer(ctx, cfg.Durable) // made meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("farpipe: making a consumer of stream %s: %w", s.name, err)
	}
	return c, nil
}

// resume prepares a durable consumer that an earlier subscriber used. The
// messages it had delivered and not acknowledged (those it was writing
// when it stopped) would come again only after AckWait, after newer ones;
// when they are all the messages after the acknowledgement floor, the
// consumer is reset to the floor, so that they come again at once and in
// order. (When some later messages were acknowledged, as the pieces of a
// record wait for their last piece, a reset would deliver those again:
// the consumer is left to redeliver after AckWait, unless replay says that
// the subscriber skips what it wrote already: a checkpoint.)
func (s *Stream) resume(ctx context.Context, c jetstream.Consumer, replay bool) (jetstream.Consumer, error) {
	ci := c.CachedInfo()
	if ci.NumAckPending == 0 || !replay && ci.Delivered.Stream-ci.AckFloor.Stream != uint64(ci.NumAckPending) {
		return c, nil
	}
	if _, err := s.s.ResetConsumer(ctx, ci.Name); err != nil {
		return c, nil // an older server: the messages come again after AckWait
	}
	return s.s.Consumer(ctx, ci.Name)
}

// Next implements broker.Subscription.
func (sub *subscription) Next(ctx context.Context) (broker.Delivery, error) {
	if sub.done {
		return broker.Delivery{}, io.EOF
	}
	for {
		m, err := sub.it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return broker.Delivery{}, context.Cause(ctx)
			}
			return broker.Delivery{}, fmt.Errorf("farpipe: reading stream %s: %w", sub.s.name, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			continue // not a stream message
		}
		if !sub.follow && (meta.Sequence.Stream >= sub.end || meta.NumPending == 0) {
			sub.done = true
		}
		pub := m.Subject()
		pub = pub[strings.LastIndexByte(pub, '.')+1:]
		return broker.Delivery{
			Data:      m.Data(),
			Publisher: pub,
			Pos:       meta.Sequence.Stream,
			Pending:   meta.NumPending,
			Ack:       func(context.Context) error { return m.Ack() },
		}, nil
	}
}

// Close implements broker.Subscription: it stops pulling, and sends the
// acknowledgements on their way.
func (sub *subscription) Close() error {
	sub.once.Do(func() {
		if sub.it != nil {
			sub.it.Stop()
		}
		_ = sub.s.nc.FlushTimeout(time.Second)
	})
	return nil
}
