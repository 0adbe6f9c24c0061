package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/farpipe/farpipe/broker"
)

// Settings of the driver.
const (
	// DefaultPort is the port of a broker address that names none.
	DefaultPort = "9092"
	// DeliveryTimeout is how long a publisher's client tries to store a
	// message (its idempotent producer retrying, without duplicates)
	// before it reports the message not stored.
	DeliveryTimeout = time.Minute
	// FetchMaxBytes bounds what a subscriber's client buffers from one
	// fetch: its memory.
	FetchMaxBytes = 4 << 20
	// HeaderID is the record header that carries a message's id.
	HeaderID = "farpipe-id"
	// connectTimeout bounds the first request of Open.
	connectTimeout = 30 * time.Second
)

func init() {
	for _, s := range []string{"kafka", "kafka+tls"} {
		broker.Register(s, driver{})
	}
}

type driver struct{}

// Address is a parsed kafka://[USER:PASS@]BROKER[:PORT][,BROKER...]/TOPIC.
type Address struct {
	Brokers []string // host:port
	Topic   string
	TLS     bool   // kafka+tls://
	User    string // SASL PLAIN login, when given
	Pass    string
}

// ParseAddress parses a kafka:// or kafka+tls:// address.
func ParseAddress(addr string) (Address, error) {
	var a Address
	scheme, rest, _ := strings.Cut(addr, "://")
	scheme = strings.ToLower(scheme)
	if scheme != "kafka" && scheme != "kafka+tls" {
		return a, fmt.Errorf("%w: %q is not a kafka:// address", broker.ErrBadAddress, broker.Redact(addr))
	}
	a.TLS = scheme == "kafka+tls"
	authority, topic, ok := strings.Cut(rest, "/")
	if !ok || topic == "" {
		return a, fmt.Errorf("%w: %q names no topic: write %s://BROKER[:PORT][,BROKER...]/TOPIC", broker.ErrBadAddress, broker.Redact(addr), scheme)
	}
	if err := checkTopic(topic); err != nil {
		return a, err
	}
	a.Topic = topic
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		login := authority[:i]
		authority = authority[i+1:]
		u, p, _ := strings.Cut(login, ":")
		var err1, err2 error
		a.User, err1 = url.PathUnescape(u)
		a.Pass, err2 = url.PathUnescape(p)
		if err1 != nil || err2 != nil || a.User == "" {
			return a, fmt.Errorf("%w: the login of %q: write USER:PASSWORD@ (URL-escaped)", broker.ErrBadAddress, broker.Redact(addr))
		}
	}
	for _, b := range strings.Split(authority, ",") {
		if b == "" {
			return a, fmt.Errorf("%w: %q has an empty broker: write %s://BROKER[:PORT][,BROKER...]/TOPIC", broker.ErrBadAddress, broker.Redact(addr), scheme)
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			b = net.JoinHostPort(strings.Trim(b, "[]"), DefaultPort)
		}
		a.Brokers = append(a.Brokers, b)
	}
	return a, nil
}

// checkTopic checks a topic name as Kafka does: 1 to 249 letters, digits,
// '.', '_' and '-', and not "." or "..".
func checkTopic(t string) error {
	ok := len(t) <= 249 && t != "." && t != ".."
	for i := 0; ok && i < len(t); i++ {
		c := t[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w: the topic %q must be 1 to 249 letters, digits, '.', '_' and '-'", broker.ErrBadAddress, t)
	}
	return nil
}

// options are the client options every client of the address shares.
func (a Address) options() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(a.Brokers...),
		kgo.ClientID("farpipe"),
		kgo.DialTimeout(10 * time.Second),
	}
	if a.TLS {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if a.User != "" {
		opts = append(opts, kgo.SASL(plain.Auth{User: a.User, Pass: a.Pass}.AsMechanism()))
	}
	return opts
}

func (a Address) String() string {
	return strings.Join(a.Brokers, ",") + "/" + a.Topic
}

// Open implements broker.Driver.
func (driver) Open(ctx context.Context, addr string, cfg broker.StreamConfig) (broker.Stream, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	return Open(ctx, a, cfg)
}

// Stream is a Kafka topic of one partition holding farpipe messages.
type Stream struct {
	addr  Address
	admin *kgo.Client // for metadata, offsets and commits
	adm   *kadm.Client
	once  sync.Once
}

// Open opens the topic of a, creating it with cfg (one partition) when it
// does not exist.
func Open(ctx context.Context, a Address, cfg broker.StreamConfig) (*Stream, error) {
	if cfg.MaxBytes > 0 {
		return nil, fmt.Errorf("farpipe: a Kafka topic cannot refuse records when it is full (retention.bytes deletes the oldest instead, which subscribers would miss): leave out --max-bytes, or set retention on topic %s yourself", a.Topic)
	}
	cl, err := kgo.NewClient(append(a.options(), kgo.RetryTimeout(connectTimeout))...)
	if err != nil {
		return nil, fmt.Errorf("farpipe: Kafka client for %s: %w", a, err)
	}
	s := &Stream{addr: a, admin: cl, adm: kadm.NewClient(cl)}
	if err := s.topic(ctx, cfg); err != nil {
		cl.Close()
		return nil, err
	}
	return s, nil
}

// topic finds the stream's topic, or creates it.
func (s *Stream) topic(ctx context.Context, cfg broker.StreamConfig) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	for try := 0; ; try++ {
		td, err := s.adm.ListTopics(ctx, s.addr.Topic)
		if err != nil {
			return fmt.Errorf("farpipe: cannot reach Kafka at %s: %w: is the broker running, and the address right?", strings.Join(s.addr.Brokers, ","), err)
		}
		d, ok := td[s.addr.Topic]
		if ok && d.Err == nil {
			if n := len(d.Partitions); n != 1 {
				return fmt.Errorf("farpipe: the Kafka topic %s has %d partitions: farpipe streams use topics of one partition (one order for every subscriber); give another topic name", s.addr.Topic, n)
			}
			return nil
		}
		if ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("farpipe: Kafka topic %s: %w", s.addr.Topic, d.Err)
		}
		if cfg.Existing {
			return fmt.Errorf("%w %s on %s yet: publish to it first (farpipe pub), or check the name", broker.ErrNoStream, s.addr.Topic, strings.Join(s.addr.Brokers, ","))
		}
		if try > 0 { // made by another, not yet in the metadata
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return fmt.Errorf("farpipe: Kafka topic %s exists but does not show: %w", s.addr.Topic, err)
			}
			continue
		}
		_, err = s.adm.CreateTopic(ctx, 1, int16(max(cfg.Replicas, 1)), topicConfig(cfg), s.addr.Topic)
		if err == nil {
			return nil // made with one partition (the metadata may not show it yet)
		}
		if !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("farpipe: cannot create Kafka topic %s: %w", s.addr.Topic, err)
		}
	}
}

// topicConfig is the configuration of a new topic: records kept until
// MaxAge (or for ever), never deleted for size.
func topicConfig(cfg broker.StreamConfig) map[string]*string {
	ms := "-1"
	if cfg.MaxAge > 0 {
		ms = strconv.FormatInt(cfg.MaxAge.Milliseconds(), 10)
	}
	c := map[string]*string{
		"retention.ms":    &ms,
		"retention.bytes": ptr("-1"),
		"cleanup.policy":  ptr("delete"),
	}
	if cfg.Replicas > 1 { // a message is stored once a majority has it
		c["min.insync.replicas"] = ptr(strconv.Itoa(cfg.Replicas/2 + 1))
	}
	return c
}

func ptr(s string) *string { return &s }

// Close implements broker.Stream.
func (s *Stream) Close() error {
	s.once.Do(s.admin.Close)
	return nil
}

// offsets returns the topic's first and end offsets (the next to be
// written).
func (s *Stream) offsets(ctx context.Context) (start, end int64, err error) {
	lo, err := s.listed(ctx, s.adm.ListStartOffsets)
	if err != nil {
		return 0, 0, err
	}
	hi, err := s.listed(ctx, s.adm.ListEndOffsets)
	return lo, hi, err
}

// listed returns partition 0's offset of a listing, trying again while
// the partition has no leader yet (a topic just made).
func (s *Stream) listed(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error)) (int64, error) {
	for wait := 20 * time.Millisecond; ; wait *= 2 {
		l, err := list(ctx, s.addr.Topic)
		if err == nil {
			o, ok := l.Lookup(s.addr.Topic, 0)
			switch {
			case !ok:
				err = kerr.UnknownTopicOrPartition
			case o.Err != nil:
				err = o.Err
			default:
				return o.Offset, nil
			}
		}
		if !kerr.IsRetriable(err) || wait > 5*time.Second {
			return 0, fmt.Errorf("farpipe: the offsets of Kafka topic %s: %w", s.addr.Topic, err)
		}
		if err := sleep(ctx, wait); err != nil {
			return 0, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
