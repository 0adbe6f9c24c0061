package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/farpipe/farpipe/broker"
)

// publisher produces the messages of one publisher id with its own
// idempotent producer: within its run, a message the client sends again
// (a lost connection, a leader change) is stored once and in order. The
// record key is the publisher id.
type publisher struct {
	s  *Stream
	id string
	cl *kgo.Client

	mu sync.Mutex
	// stored are this publisher's messages that Truncate found stored
	// after the position it was given, by their first record and offset:
	// Publish confirms a message sent again from them without sending it
	// (Kafka cannot remove them).
	stored map[piece]uint64
}

// piece names a message of a publisher: its first record and the offset
// in that record.
type piece struct{ rec, off uint64 }

// Publisher implements broker.Stream.
func (s *Stream) Publisher(ctx context.Context, id string) (broker.Publisher, error) {
	if err := broker.CheckID("publisher id", id); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(s.addr.options(),
		kgo.DefaultProduceTopic(s.addr.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(DeliveryTimeout),
		kgo.ProducerLinger(0),
	)...)
	if err != nil {
		return nil, fmt.Errorf("farpipe: Kafka client for %s: %w", s.addr, err)
	}
	return &publisher{s: s, id: id, cl: cl}, nil
}

// Last implements broker.Publisher: it reads the topic backwards from its
// end, in growing steps, to the last record keyed with the publisher id.
func (p *publisher) Last(ctx context.Context) ([]byte, uint64, error) {
	start, end, err := p.s.offsets(ctx)
	if err != nil {
		return nil, 0, err
	}
	for step := int64(256); end > start; step *= 4 {
		from := max(start, end-step)
		var last *kgo.Record
		err := p.s.scan(ctx, from, end, func(r *kgo.Record) bool {
			if string(r.Key) == p.id {
				last = r
			}
			return true
		})
		if err != nil {
			return nil, 0, err
		}
		if last != nil {
			return last.Value, uint64(last.Offset) + 1, nil
		}
		end = from
	}
	return nil, 0, nil
}

// Publish implements broker.Publisher. Kafka has no conditional append:
// after is not checked (see docs/streams.md).
func (p *publisher) Publish(ctx context.Context, m broker.Message, after uint64, ack func(uint64, error)) error {
	if pos, ok := p.storedAlready(m.Data); ok {
		ack(pos, nil)
		return nil
	}
	r := &kgo.Record{Key: []byte(p.id), Value: m.Data, Headers: []kgo.RecordHeader{{Key: HeaderID, Value: []byte(m.ID)}}}
	p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		if err != nil {
			ack(0, p.s.classify(err))
			return
		}
		ack(uint64(r.Offset)+1, nil)
	})
	return nil
}

// storedAlready returns where the message with data is stored, when
// Truncate found it.
func (p *publisher) storedAlready(data []byte) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.stored) == 0 {
		return 0, false
	}
	h, _, err := broker.Unpack(data, nil)
	if err != nil {
		return 0, false
	}
	k := piece{h.Rec, h.Off}
	pos, ok := p.stored[k]
	delete(p.stored, k)
	return pos, ok
}

// Truncate implements broker.Publisher. Kafka cannot remove single
// records: instead, Truncate notes this publisher's messages stored after
// position after, and Publish confirms them when the window sends them
// again, without storing them twice. They hold the same bytes: the window
// sends the same messages again, in order.
func (p *publisher) Truncate(ctx context.Context, after uint64) error {
	_, end, err := p.s.offsets(ctx)
	if err != nil {
		return fmt.Errorf("%w (%v)", broker.ErrTransient, err)
	}
	found := map[piece]uint64{}
	var bad error
	err = p.s.scan(ctx, int64(after), end, func(r *kgo.Record) bool {
		if string(r.Key) != p.id {
			return true
		}
		h, _, err := broker.Unpack(r.Value, nil)
		if err != nil {
			bad = fmt.Errorf("farpipe: Kafka topic %s holds a malformed message of publisher %s at %d: %w", p.s.addr.Topic, p.id, r.Offset+1, err)
			return false
		}
		found[piece{h.Rec, h.Off}] = uint64(r.Offset) + 1
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return fmt.Errorf("%w (%v)", broker.ErrTransient, err)
	}
	p.mu.Lock()
	p.stored = found
	p.mu.Unlock()
	return nil
}

// Close implements broker.Publisher.
func (p *publisher) Close() error {
	p.cl.Close()
	return nil
}

// classify turns a producing error into one that broker's errors match.
func (s *Stream) classify(err error) error {
	var ke *kerr.Error
	switch {
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return fmt.Errorf("farpipe: Kafka topic %s refused a message as too large (%w): give a smaller --max-message, or raise the topic's max.message.bytes", s.addr.Topic, err)
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.PolicyViolation), errors.Is(err, kerr.InvalidRecord):
		return fmt.Errorf("farpipe: Kafka topic %s refused a message: %w", s.addr.Topic, err)
	case errors.As(err, &ke) && !ke.Retriable:
		return fmt.Errorf("farpipe: Kafka topic %s refused a message: %w", s.addr.Topic, err)
	}
	return fmt.Errorf("%w by Kafka topic %s (%v)", broker.ErrTransient, s.addr.Topic, err)
}
