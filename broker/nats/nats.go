package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/farpipe/farpipe/broker"
	natst "github.com/farpipe/farpipe/transport/nats"
)

// Settings of the streams that Open creates, and of its publishers.
const (
	// SubjectPrefix starts the subjects of every stream: a stream NAME
	// holds the subjects farpipe.stream.NAME.*, one per publisher.
	SubjectPrefix = "farpipe.stream."
	// DuplicateWindow is how long JetStream remembers message ids: a
	// message sent again within it (after a lost confirmation) is stored
	// once.
	DuplicateWindow = 2 * time.Minute
	// PublishTimeout is how long a publisher waits for JetStream to
	// confirm a message before it sends it again.
	PublishTimeout = 10 * time.Second
	// AckWait is how long a consumer waits for the acknowledgement of a
	// message before delivering it again.
	AckWait = 30 * time.Second
	// EphemeralTimeout is how long a consumer without a durable name
	// lives on the server after its subscriber went away.
	EphemeralTimeout = 30 * time.Second
)

func init() {
	for _, s := range []string{"nats", "nats+tls", "nats+ws", "nats+wss"} {
		broker.Register(s, driver{})
	}
}

type driver struct{}

// Open implements broker.Driver: addr is
// SCHEME://[LOGIN@]HOST[:PORT][,HOST[:PORT]...]/STREAM[?SETTINGS], as the
// relay transport's addresses with a stream name in place of the pipe name.
func (driver) Open(ctx context.Context, addr string, cfg broker.StreamConfig) (broker.Stream, error) {
	scheme, rest, _ := strings.Cut(addr, "://")
	rest, query, hasQuery := strings.Cut(rest, "?")
	server, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return nil, fmt.Errorf("%w: %q names no stream: write %s://HOST[:PORT]/STREAM", broker.ErrBadAddress, broker.Redact(addr), scheme)
	}
	if err := broker.CheckID("stream name", name); err != nil {
		return nil, fmt.Errorf("%w: %w", broker.ErrBadAddress, err)
	}
	server = scheme + "://" + server
	if hasQuery {
		server += "?" + query
	}
	nc, release, err := natst.Connect(ctx, server)
	if err != nil {
		return nil, err
	}
	s, err := open(ctx, nc, name, cfg)
	if err != nil {
		release()
		return nil, err
	}
	s.release = release
	return s, nil
}

// Stream is a JetStream stream of records.
type Stream struct {
	nc      *natsgo.Conn
	js      jetstream.JetStream
	pubJS   jetstream.JetStream // of the publishers: asynchronous publishing
	s       jetstream.Stream
	name    string
	release func()
	once    sync.Once
}

// NewStream opens the stream name on the NATS connection nc (which the
// caller keeps and closes after the stream), creating it with cfg when it
// does not exist.
func NewStream(ctx context.Context, nc *natsgo.Conn, name string, cfg broker.StreamConfig) (*Stream, error) {
	if err := broker.CheckID("stream name", name); err != nil {
		return nil, err
	}
	return open(ctx, nc, name, cfg)
}

func open(ctx context.Context, nc *natsgo.Conn, name string, cfg broker.StreamConfig) (*Stream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("farpipe: JetStream: %w", err)
	}
	sc := streamConfig(name, cfg)
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) && cfg.Existing {
		return nil, fmt.Errorf("%w %s on %s yet: publish to it first (farpipe pub), or check the name", broker.ErrNoStream, name, nc.ConnectedUrlRedacted())
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, sc)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("farpipe: opening stream %s on %s: %w: is JetStream enabled on the server?", name, nc.ConnectedUrlRedacted(), err)
	}
	if subj := s.CachedInfo().Config.Subjects; len(subj) != 1 || subj[0] != sc.Subjects[0] {
		return nil, fmt.Errorf("farpipe: the server has a stream %s that farpipe did not make (its subjects are %v, not %s): give another stream name", name, subj, sc.Subjects[0])
	}
	pubJS, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxAsync), jetstream.WithPublishAsyncTimeout(PublishTimeout))
	if err != nil {
		return nil, fmt.Errorf("farpipe: JetStream: %w", err)
	}
	return &Stream{nc: nc, js: js, pubJS: pubJS, s: s, name: name}, nil
}

// streamConfig is the configuration of a new stream: file storage, limits,
// no message discarded to make room (DiscardNew: a full stream refuses
// publishers).
func streamConfig(name string, cfg broker.StreamConfig) jetstream.StreamConfig {
	sc := jetstream.StreamConfig{
		Name:        name,
		Description: "farpipe records (farpipe pub/sub)",
		Subjects:    []string{SubjectPrefix + name + ".*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		Replicas:    max(cfg.Replicas, 1),
		MaxBytes:    -1,
		MaxMsgs:     -1,
		MaxAge:      cfg.MaxAge,
		Duplicates:  DuplicateWindow,
		AllowDirect: true,
	}
	if cfg.MaxBytes > 0 {
		sc.MaxBytes = cfg.MaxBytes
	}
	if cfg.MaxAge > 0 && cfg.MaxAge < DuplicateWindow {
		sc.Duplicates = cfg.MaxAge
	}
	return sc
}

// Close implements broker.Stream.
func (s *Stream) Close() error {
	s.once.Do(func() {
		if s.release != nil {
			s.release()
		}
	})
	return nil
}

func (s *Stream) subject(publisher string) string { return SubjectPrefix + s.name + "." + publisher }
