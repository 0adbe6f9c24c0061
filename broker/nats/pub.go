package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/farpipe/farpipe/broker"
)

// publisher publishes with JetStream's asynchronous publishing; one
// goroutine (watch) waits for the confirmations in order and reports them.
type publisher struct {
	s       *Stream
	js      jetstream.JetStream
	subject string
	futures chan future
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

type future struct {
	f   jetstream.PubAckFuture
	ack func(uint64, error)
}

// maxAsync bounds the messages a publisher has unconfirmed.
const maxAsync = 4096

// Publisher implements broker.Stream.
func (s *Stream) Publisher(ctx context.Context, id string) (broker.Publisher, error) {
	if err := broker.CheckID("publisher id", id); err != nil {
		return nil, err
	}
	p := &publisher{s: s, js: s.pubJS, subject: s.subject(id), futures: make(chan future, maxAsync), quit: make(chan struct{}), done: make(chan struct{})}
	go p.watch()
	return p, nil
}

func (p *publisher) watch() {
	defer close(p.done)
	for {
		var fu future
		select {
		case fu = <-p.futures:
		case <-p.quit:
			return
		}
		select {
		case pa := <-fu.f.Ok():
			fu.ack(pa.Sequence, nil)
		case err := <-fu.f.Err():
			fu.ack(0, p.s.classify(err))
		case <-p.quit:
			return
		}
	}
}

// Last implements broker.Publisher.
func (p *publisher) Last(ctx context.Context) ([]byte, uint64, error) {
	m, err := p.s.s.GetLastMsgForSubject(ctx, p.subject)
	// A stream just made on a cluster answers direct gets once its
	// replicas are ready: until then, no one responds.
	for wait := 20 * time.Millisecond; errors.Is(err, natsgo.ErrNoResponders) && wait < 5*time.Second; wait *= 2 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, 0, context.Cause(ctx)
		}
		m, err = p.s.s.GetLastMsgForSubject(ctx, p.subject)
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("farpipe: reading the last message of %s in stream %s: %w", p.subject, p.s.name, err)
	}
	return m.Data, m.Sequence, nil
}

// Publish implements broker.Publisher.
func (p *publisher) Publish(ctx context.Context, m broker.Message, after uint64, ack func(uint64, error)) error {
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(m.ID)}
	if after > 0 {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(after))
	}
	f, err := p.js.PublishMsgAsync(&natsgo.Msg{Subject: p.subject, Data: m.Data}, opts...)
	if err != nil {
		return p.s.classify(err)
	}
	select {
	case p.futures <- future{f, ack}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Truncate implements broker.Publisher.
func (p *publisher) Truncate(ctx context.Context, after uint64) error {
	for {
		m, err := p.s.s.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(p.subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err == nil {
			err = p.s.s.DeleteMsg(ctx, m.Sequence)
		}
		if err != nil {
			return p.s.classify(err)
		}
		after = m.Sequence
	}
}

// StoredAfter implements broker.StoredLister: it reads the publisher's
// messages after position after, one direct get each.
func (p *publisher) StoredAfter(ctx context.Context, after uint64, limit int) ([]broker.StoredMessage, error) {
	var got []broker.StoredMessage
	for len(got) <= limit {
		m, err := p.s.s.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(p.subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return got, nil
		}
		if err != nil {
			return nil, p.s.classify(err)
		}
		got = append(got, broker.StoredMessage{ID: m.Header.Get(natsgo.MsgIdHdr), Pos: m.Sequence})
		after = m.Sequence
	}
	return got, nil
}

// Close implements broker.Publisher.
func (p *publisher) Close() error {
	p.once.Do(func() {
		close(p.quit)
		<-p.done
		// Not js.CleanupPublisher: it races with the goroutine nats.go
		// starts at the first publish, which then never ends (nats.go
		// v1.55.0). The Stream's JetStream context ends with the connection.
	})
	return nil
}

// JetStream's error codes that classify says something of.
const (
	errStoreFailed        = 10077 // "maximum bytes exceeded", "maximum messages exceeded"
	errInsufficient       = 10023
	errStorageExceeded    = 10047
	errMemoryExceeded     = 10028
	errWrongLastSeq       = 10071
	errWrongLastSeqConst  = 10164
	errClusterUnavailable = 10008
	errLastSeqNotReady    = 10163
)

// classify turns a publishing error into one that broker's errors match.
func (s *Stream) classify(err error) error {
	var ae *jetstream.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%w by stream %s (%v)", broker.ErrTransient, s.name, err)
	}
	switch ae.ErrorCode {
	case errStoreFailed, errInsufficient, errStorageExceeded, errMemoryExceeded:
		return fmt.Errorf("%w: stream %s refused a message (%s): raise its limits or remove old records (nats stream purge %s), then publish the rest", broker.ErrFull, s.name, ae.Description, s.name)
	case errWrongLastSeq, errWrongLastSeqConst:
		return fmt.Errorf("%w: stream %s holds messages of this publisher that it did not expect (%s): run one publisher per --id", broker.ErrConflict, s.name, ae.Description)
	case errClusterUnavailable, errLastSeqNotReady:
		return fmt.Errorf("%w by stream %s (%s)", broker.ErrTransient, s.name, ae.Description)
	}
	return fmt.Errorf("farpipe: stream %s refused a message: %s (JetStream error %d)", s.name, ae.Description, ae.ErrorCode)
}
