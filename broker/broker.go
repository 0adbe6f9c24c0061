package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Errors of the package and of its drivers, matched with errors.Is. The
// error a driver returns wraps one of them when it applies.
var (
	// ErrBadAddress: the stream address is malformed.
	ErrBadAddress = errors.New("farpipe: bad stream address")
	// ErrUnknownScheme: no driver is registered for the address's scheme.
	ErrUnknownScheme = errors.New("farpipe: unknown stream address scheme")
	// ErrFull: the stream reached its limits (bytes, messages, or the
	// server's storage) and refuses new messages. Nothing is discarded to
	// make room: the publisher gets this error.
	ErrFull = errors.New("farpipe: the stream is full")
	// ErrTransient: the broker did not store (or did not confirm) a
	// message for a reason that may pass: a lost connection, a leader
	// election, a timeout. The same message may be published again (its id
	// makes it stored once).
	ErrTransient = errors.New("farpipe: the broker did not confirm the message")
	// ErrNoStream: the stream does not exist (and was not to be made).
	ErrNoStream = errors.New("farpipe: no such stream")
	// ErrMalformed: a message holds no valid records (not written by a
	// farpipe publisher, or damaged).
	ErrMalformed = errors.New("farpipe: malformed stream message")
	// ErrConflict: the stream holds records from this publisher that it
	// did not expect (another publisher runs with the same id).
	ErrConflict = errors.New("farpipe: another publisher wrote under this id")
)

// StreamConfig are the settings of a stream that Open creates when it does
// not exist yet; an existing stream keeps its own. Zero values mean the
// defaults of each field.
type StreamConfig struct {
	// Replicas is how many servers keep each message (1 to 5; 0 means 1).
	// A message is stored, and Publish confirms it, once a majority of
	// them have it.
	Replicas int
	// MaxBytes bounds the stream's size; 0 means no limit of its own (the
	// server's storage is the limit).
	MaxBytes int64
	// MaxAge is how long messages are kept; 0 means until removed.
	MaxAge time.Duration
	// Existing makes Open fail with ErrNoStream instead of creating the
	// stream (sub: the publisher's flags make it).
	Existing bool
}

// Message is one message of a stream as a driver moves it.
type Message struct {
	// ID identifies the message for the broker's deduplication: the same
	// ID published twice is stored once.
	ID string
	// Publisher is the name of the publisher (the subject, key or routing
	// of the broker, depending on the driver).
	Publisher string
	// Data is the payload: records packed by Pack.
	Data []byte
}

// Stream is a durable log of messages on a broker: what a driver provides.
// Its methods are safe for concurrent use.
type Stream interface {
	// Publisher returns a publisher named id (letters, digits, '-' and
	// '_'). One process at a time may publish under an id.
	Publisher(ctx context.Context, id string) (Publisher, error)
	// Subscribe starts reading the stream.
	Subscribe(ctx context.Context, cfg SubConfig) (Subscription, error)
	// Close releases the stream's resources (not the stream itself).
	Close() error
}

// Publisher writes the messages of one publisher.
type Publisher interface {
	// Last returns the last message of this publisher that the stream
	// holds, and its position in the stream, or (nil, 0, nil).
	Last(ctx context.Context) (data []byte, pos uint64, err error)
	// Publish sends m and returns at once, or waits while too many
	// messages are unconfirmed. ack is called once, from any goroutine,
	// with m's position in the stream when it is stored, or the error.
	// When after is non-zero the message is stored only if the
	// publisher's last stored message is at position after (else ack gets
	// ErrConflict): a restarted publisher's first message.
	Publish(ctx context.Context, m Message, after uint64, ack func(pos uint64, err error)) error
	// Truncate removes the messages of this publisher stored after
	// position after. When the broker refused or lost a message and stored
	// later ones, Pub removes those, so that the stream holds the
	// publisher's records in order, then sends them again.
	Truncate(ctx context.Context, after uint64) error
	// Close waits for no confirmation; messages not yet confirmed may or
	// may not be stored.
	Close() error
}

// StoredLister is a Publisher that can list its messages stored after a
// position. When confirmations were lost (a relay that went away after
// storing messages and before confirming them), Pub asks what the stream
// holds: when that is the messages it sent, in the order sent, it keeps
// them instead of removing them and sending them again, which a subscriber
// reading live would see twice.
type StoredLister interface {
	// StoredAfter returns the ids and positions of this publisher's
	// messages stored after position after, in the stream's order, at
	// most limit of them; more than limit returns limit+1.
	StoredAfter(ctx context.Context, after uint64, limit int) ([]StoredMessage, error)
}

// StoredMessage is a message's id and position in the stream.
type StoredMessage struct {
	ID  string
	Pos uint64
}

// Where a subscription starts when its consumer is new.
type From int

const (
	FromStart From = iota // the first record the stream holds
	FromNew               // the first record published after Subscribe
	FromSeq               // the record at SubConfig.Seq (a stream position)
	FromTime              // the first record stored at or after SubConfig.Time
)

// SubConfig says how to read a stream.
type SubConfig struct {
	// Durable, when set, names a consumer that the broker keeps: a new
	// subscription with the same name resumes after the last message it
	// acknowledged. From applies when it is created. One process at a
	// time may read a durable consumer.
	Durable string
	From    From
	Seq     uint64
	Time    time.Time
	// Follow keeps waiting for new messages; otherwise Next returns
	// io.EOF after the message that was the stream's last when Subscribe
	// was called.
	Follow bool
	// MaxPending bounds the messages delivered and not yet acknowledged;
	// 0 means DefaultMaxPending.
	MaxPending int
	// Replay, for a durable subscriber (Sub sets it for every durable
	// name), has a resumed consumer deliver every message after its
	// acknowledgement floor again, in order, those acknowledged after the
	// floor too, rather than the unacknowledged ones later, after newer
	// ones (which would separate the pieces of a record and lose it).
	Replay bool
}

// DefaultMaxPending is SubConfig.MaxPending's default.
const DefaultMaxPending = 256

// Delivery is one message delivered to a subscriber.
type Delivery struct {
	Data      []byte
	Publisher string // the name of the publisher that sent it
	// Pos is the message's position in the stream: increasing, never
	// reused. A message delivered again has the same Pos.
	Pos uint64
	// Ack acknowledges the message: the broker will not deliver it again
	// to this consumer. Call it only after its records were written out.
	Ack func(ctx context.Context) error
	// Pending is how many messages of the stream follow this one that the
	// consumer has not delivered yet: how far the subscriber lags behind.
	// 0 when the driver cannot tell.
	Pending uint64
}

// Subscription delivers messages at least once, in stream order except
// for messages delivered again (after a lost acknowledgement).
type Subscription interface {
	// Next waits for the next message. It returns io.EOF at the end of
	// the stream (without Follow).
	Next(ctx context.Context) (Delivery, error)
	// Close stops the subscription; unacknowledged messages of a durable
	// consumer are delivered again later.
	Close() error
}

// Driver opens streams at addresses of its schemes.
type Driver interface {
	// Open connects to the stream at addr, creating it with cfg when it
	// does not exist.
	Open(ctx context.Context, addr string, cfg StreamConfig) (Stream, error)
}

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// Register makes d open the addresses of scheme ("nats"). It panics when
// the scheme is taken: drivers register in init.
func Register(scheme string, d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if _, ok := drivers[scheme]; ok {
		panic("broker: Register called twice for scheme " + scheme)
	}
	drivers[scheme] = d
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	s := make([]string, 0, len(drivers))
	for k := range drivers {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Open opens the stream at addr (SCHEME://...) with the driver of its
// scheme, creating the stream with cfg when it does not exist.
func Open(ctx context.Context, addr string, cfg StreamConfig) (Stream, error) {
	scheme, _, ok := strings.Cut(addr, "://")
	if !ok {
		return nil, fmt.Errorf("%w: %q: write SCHEME://SERVER/STREAM, for example nats://127.0.0.1:4222/logs", ErrBadAddress, addr)
	}
	driversMu.RLock()
	d := drivers[strings.ToLower(scheme)]
	driversMu.RUnlock()
	if d == nil {
		return nil, fmt.Errorf("%w %q in %q: the schemes are %s", ErrUnknownScheme, scheme, addr, strings.Join(Schemes(), ", "))
	}
	if cfg.Replicas < 0 || cfg.Replicas > 5 || cfg.MaxBytes < 0 || cfg.MaxAge < 0 {
		return nil, fmt.Errorf("%w: replicas must be 1 to 5, sizes and ages not negative", ErrBadAddress)
	}
	return d.Open(ctx, addr, cfg)
}

// CheckID checks a publisher or consumer name: letters, digits, '-' and
// '_', 1 to MaxIDLen bytes.
func CheckID(what, id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("farpipe: the %s %q must be 1 to %d bytes", what, id, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("farpipe: the %s %q may hold only letters, digits, '-' and '_'", what, id)
		}
	}
	return nil
}

// MaxIDLen is the longest publisher or consumer name.
const MaxIDLen = 64

// CutLogin splits a stream address, SCHEME://[LOGIN@]HOST[/PATH], around
// its login: before is "SCHEME://", after is HOST[/PATH]. found says
// there was a login; an '@' in the path is not one.
func CutLogin(addr string) (before, after string, found bool) {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return addr, "", false
	}
	host, _, _ := strings.Cut(rest, "/")
	i := strings.LastIndexByte(host, '@')
	if i < 0 {
		return addr, "", false
	}
	return scheme + "://", rest[i+1:], true
}

// Redact hides the login of a stream address, for messages.
func Redact(addr string) string {
	if before, after, ok := CutLogin(addr); ok {
		return before + "***@" + after
	}
	return addr
}
