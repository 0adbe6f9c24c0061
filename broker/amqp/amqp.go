package amqp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/farpipe/farpipe/broker"
)

// Names and settings.
const (
	// IndexSuffix names the stream of a stream's publisher runs:
	// QUEUE.farpipe-pubs (see Publisher).
	IndexSuffix = ".farpipe-pubs"
	// SubSuffix starts the names of durable subscribers' state queues:
	// QUEUE.farpipe-sub.NAME.
	SubSuffix = ".farpipe-sub."
	// RetryFor is how long a subscriber or a connection keeps trying to
	// reach a broker that went away before it gives up with an error.
	RetryFor = time.Minute
	// Headers of the messages farpipe writes.
	hdrPublisher = "farpipe-pub"  // the publisher's id
	hdrMark      = "farpipe-mark" // an end mark: no records
	hdrOffset    = "x-stream-offset"
)

func init() {
	broker.Register("amqp", driver{})
	broker.Register("amqps", driver{})
}

type driver struct{}

// Open implements broker.Driver.
func (driver) Open(ctx context.Context, addr string, cfg broker.StreamConfig) (broker.Stream, error) {
	uri, queue, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	if cfg.MaxBytes > 0 {
		return nil, fmt.Errorf("%w: a RabbitMQ stream cannot refuse messages when full (it drops its oldest instead): drop --max-bytes, and bound it with --max-age or the broker's disk alarms", broker.ErrBadAddress)
	}
	c := &conn{uri: uri, redacted: redact(addr)}
	s := &Stream{c: c, queue: queue}
	if err := s.declare(ctx, cfg); err != nil {
		c.close()
		return nil, err
	}
	return s, nil
}

// ParseAddress splits an address SCHEME://[USER:PASS@]HOST[:PORT][/VHOST]/QUEUE
// into the broker's URI (amqp091's form: the vhost as its path) and the
// queue's name. The vhost is URL-escaped (%2F for a '/' in it); without
// one, it is "/".
func ParseAddress(addr string) (uri, queue string, err error) {
	scheme, rest, _ := strings.Cut(addr, "://")
	rest, query, hasQuery := strings.Cut(rest, "?")
	i := strings.LastIndexByte(rest, '/')
	at := strings.LastIndexByte(rest, '@')
	if i < 0 || i < at {
		return "", "", fmt.Errorf("%w: %q names no queue: write %s://[USER:PASS@]HOST[:PORT][/VHOST]/QUEUE", broker.ErrBadAddress, redact(addr), scheme)
	}
	server, queue := rest[:i], rest[i+1:]
	if err := broker.CheckID("queue name", queue); err != nil {
		return "", "", fmt.Errorf("%w: %w", broker.ErrBadAddress, err)
	}
	uri = strings.ToLower(scheme) + "://" + server
	if !strings.Contains(server[strings.LastIndexByte(server, '@')+1:], "/") {
		uri += "/"
	}
	if hasQuery {
		uri += "?" + query
	}
	if _, err := amqp.ParseURI(uri); err != nil {
		return "", "", fmt.Errorf("%w: %q: %w", broker.ErrBadAddress, redact(addr), err)
	}
	return uri, queue, nil
}

// redact hides the password of an address.
func redact(addr string) string {
	u, err := url.Parse(addr)
	if err != nil || u.User == nil {
		return addr
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}

// conn is one connection to the broker, dialed again when it was lost.
type conn struct {
	uri      string
	redacted string
	mu       sync.Mutex
	c        *amqp.Connection
	closed   bool
}

// channel opens a channel, dialing the broker first when the connection
// is lost. It tries once: callers retry with backoff.
func (c *conn) channel(ctx context.Context) (*amqp.Channel, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("farpipe: the stream is closed")
	}
	if c.c == nil || c.c.IsClosed() {
		d, err := amqp.DialConfig(c.uri, amqp.Config{Heartbeat: 10 * time.Second, Dial: dialer(ctx)})
		if err != nil {
			return nil, fmt.Errorf("%w: connecting to %s: %w", broker.ErrTransient, c.redacted, err)
		}
		c.c = d
	}
	ch, err := c.c.Channel()
	if err != nil {
		return nil, fmt.Errorf("%w: opening a channel on %s: %w", broker.ErrTransient, c.redacted, err)
	}
	return ch, nil
}

// retry calls fn until it succeeds, fails with an error that is not
// ErrTransient, ctx ends, or RetryFor passes; waits grow from 50 ms to 2 s.
func retry(ctx context.Context, fn func() error) error {
	begin, wait := time.Now(), 50*time.Millisecond
	for {
		err := fn()
		if err == nil || !errors.Is(err, broker.ErrTransient) {
			return err
		}
		if time.Since(begin) > RetryFor {
			return fmt.Errorf("%w (for %v: is the broker up?)", err, RetryFor)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func dialer(ctx context.Context) func(network, addr string) (net.Conn, error) {
	return func(network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.c != nil {
		_ = c.c.Close()
	}
}

// Stream is a RabbitMQ stream queue of records.
type Stream struct {
	c     *conn
	queue string
	once  sync.Once
}

// streamArgs are the arguments of a stream queue.
func streamArgs(cfg broker.StreamConfig) amqp.Table {
	args := amqp.Table{"x-queue-type": "stream"}
	if cfg.MaxAge > 0 {
		args["x-max-age"] = fmt.Sprintf("%ds", max(int64(cfg.MaxAge/time.Second), 1))
	}
	if cfg.Replicas > 1 {
		args["x-initial-cluster-size"] = int32(cfg.Replicas)
	}
	return args
}

// declare makes the stream and its index when they do not exist.
func (s *Stream) declare(ctx context.Context, cfg broker.StreamConfig) error {
	return retry(ctx, func() error {
		ch, err := s.c.channel(ctx)
		if err != nil {
			return err
		}
		defer ch.Close()
		if cfg.Existing {
			if _, err := ch.QueueDeclarePassive(s.queue, true, false, false, false, nil); err != nil {
				return s.declareError(err, cfg)
			}
			ch, err = s.c.channel(ctx)
			if err != nil {
				return err
			}
			defer ch.Close()
		}
		for _, q := range []string{s.queue, s.queue + IndexSuffix} {
			if _, err := ch.QueueDeclare(q, true, false, false, false, streamArgs(cfg)); err != nil {
				return s.declareError(err, cfg)
			}
		}
		return nil
	})
}

func (s *Stream) declareError(err error, cfg broker.StreamConfig) error {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case amqp.NotFound:
			if !cfg.Existing { // being recovered after a restart, or deleted: wait a while
				return fmt.Errorf("%w: stream %s on %s is not there (a broker restarting, or the queue deleted)", broker.ErrTransient, s.queue, s.c.redacted)
			}
			return fmt.Errorf("%w %s on %s yet: publish to it first (farpipe pub), or check the name", broker.ErrNoStream, s.queue, s.c.redacted)
		case amqp.PreconditionFailed:
			return fmt.Errorf("farpipe: the broker %s has a queue %s that is not a farpipe stream (%s): give another queue name", s.c.redacted, s.queue, ae.Reason)
		case amqp.AccessRefused:
			return fmt.Errorf("farpipe: the broker %s refused queue %s (%s): check the user's permissions on the vhost", s.c.redacted, s.queue, ae.Reason)
		}
	}
	return fmt.Errorf("%w: declaring stream %s on %s: %w", broker.ErrTransient, s.queue, s.c.redacted, err)
}

// Close implements broker.Stream.
func (s *Stream) Close() error {
	s.once.Do(s.c.close)
	return nil
}

// offsetOf is a stream delivery's offset.
func offsetOf(d *amqp.Delivery) (int64, bool) {
	switch v := d.Headers[hdrOffset].(type) {
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case int:
		return int64(v), true
	}
	return 0, false
}

// token is a random name for a mark or a consumer.
func token() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
