package amqp

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/farpipe/farpipe/broker"
)

// publisher publishes with confirms on one channel (opened again after a
// lost connection); one goroutine (watch) waits for the confirmations in
// order and reports them.
type publisher struct {
	s       *Stream
	id      string
	last    []byte // the publisher's last message of earlier runs
	lastPos uint64
	pos     atomic.Uint64 // the position reported with the last confirmation
	futures chan future
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex // guards ch and returns
	ch      *amqp.Channel
	returns chan amqp.Return

	token       string             // this run's, in the index
	startCancel context.CancelFunc // of watchStart's goroutine
	startDone   chan struct{}
}

type future struct {
	dc      *amqp.DeferredConfirmation
	id      string
	returns chan amqp.Return
	ack     func(uint64, error)
}

// maxAsync bounds the messages a publisher has unconfirmed.
const maxAsync = 4096

// Publisher implements broker.Stream. It finds the publisher's last
// message of earlier runs (see the package documentation: the index) and
// records this run in the index, before anything is published.
func (s *Stream) Publisher(ctx context.Context, id string) (broker.Publisher, error) {
	if err := broker.CheckID("publisher id", id); err != nil {
		return nil, err
	}
	p := &publisher{s: s, id: id, futures: make(chan future, maxAsync), quit: make(chan struct{}), done: make(chan struct{})}
	if err := p.findLast(ctx); err != nil {
		return nil, err
	}
	p.pos.Store(p.lastPos)
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
		case <-fu.dc.Done():
		case <-p.quit:
			return
		}
		if !fu.dc.Acked() {
			fu.ack(0, fmt.Errorf("%w: stream %s on %s did not store a message (the connection was lost, or the broker refused it)", broker.ErrTransient, p.s.queue, p.s.c.redacted))
			continue
		}
		if returned(fu.returns, fu.id) {
			fu.ack(0, fmt.Errorf("%w: stream %s on %s was not there (a broker restarting, or the queue deleted)", broker.ErrTransient, p.s.queue, p.s.c.redacted))
			continue
		}
		fu.ack(p.pos.Add(1), nil)
	}
}

// returned reports whether the broker returned the message id (routed to
// no queue): a return comes before the message's confirmation.
func returned(rs chan amqp.Return, id string) bool {
	for {
		select {
		case r, ok := <-rs:
			if !ok { // the channel was closed: nothing more comes
				return false
			}
			if r.MessageId == id {
				return true
			}
		default:
			return false
		}
	}
}

// Last implements broker.Publisher.
func (p *publisher) Last(context.Context) ([]byte, uint64, error) {
	return p.last, p.lastPos, nil
}

// channel returns the publishing channel, opened again when it was lost.
func (p *publisher) channel(ctx context.Context) (*amqp.Channel, chan amqp.Return, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ch != nil && !p.ch.IsClosed() {
		return p.ch, p.returns, nil
	}
	ch, err := p.s.c.channel(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, nil, transient(p.s, err)
	}
	p.ch = ch
	p.returns = ch.NotifyReturn(make(chan amqp.Return, maxAsync))
	return ch, p.returns, nil
}

// Publish implements broker.Publisher. The message's AMQP id is
// ID-REC-OFF, the same when it is sent again.
func (p *publisher) Publish(ctx context.Context, m broker.Message, _ uint64, ack func(uint64, error)) error {
	ch, rs, err := p.channel(ctx)
	if err != nil {
		return err
	}
	id := m.ID
	if h, _, err := broker.Unpack(m.Data, nil); err == nil {
		id = p.id + "-" + strconv.FormatUint(h.Rec, 10) + "-" + strconv.FormatUint(h.Off, 10)
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", p.s.queue, true, false, amqp.Publishing{
		Headers:      amqp.Table{hdrPublisher: p.id},
		DeliveryMode: amqp.Persistent,
		MessageId:    id,
		Body:         m.Data,
	})
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return transient(p.s, err)
	}
	select {
	case p.futures <- future{dc: dc, id: id, returns: rs, ack: ack}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Truncate implements broker.Publisher. A stream queue cannot remove
// messages: the messages sent again after a failure may be stored twice,
// and subscribers skip the second copy (by the publisher's record indexes).
// Truncate opens the connection again when it was lost, so that the
// publisher's retries wait for the broker.
func (p *publisher) Truncate(ctx context.Context, _ uint64) error {
	_, _, err := p.channel(ctx)
	return err
}

// Close implements broker.Publisher.
func (p *publisher) Close() error {
	p.once.Do(func() {
		close(p.quit)
		<-p.done
		p.stopStart()
		p.mu.Lock()
		if p.ch != nil {
			_ = p.ch.Close()
		}
		p.mu.Unlock()
	})
	return nil
}
