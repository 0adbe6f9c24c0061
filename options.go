package farpipe

import (
	"fmt"
	"time"

	"github.com/farpipe/farpipe/session"
)

// Option configures Dial and Listen. Options are applied in order over the
// defaults; each documents its default.
type Option func(*options) error

type options struct {
	session      session.Config
	errorLog     func(error)
	maxHandshake int
}

func defaultOptions() options {
	return options{
		session:      *session.DefaultConfig(),
		errorLog:     func(error) {},
		maxHandshake: 64,
	}
}

func buildOptions(opts []Option) (*options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := o.session.Verify(); err != nil {
		return nil, err
	}
	return &o, nil
}

// WithWindow sets the most bytes in flight per direction: written but not
// yet delivered to the peer's application. It bounds memory on both sides
// and is what makes a slow reader slow the writer. The smaller of the two
// sides' windows applies. Default 8 MiB; 64 KiB to 1 GiB.
func WithWindow(bytes int) Option {
	return func(o *options) error {
		o.session.Window = bytes
		return nil
	}
}

// WithFrameSize sets the largest data frame this side sends. Default 256 KiB.
func WithFrameSize(bytes int) Option {
	return func(o *options) error {
		o.session.FrameSize = bytes
		return nil
	}
}

// WithKeepalive sets how long an idle connection waits before it sends a
// keepalive (default 2 s) and after how long without a single frame from
// the peer the connection counts as lost (default 10 s).
func WithKeepalive(interval, timeout time.Duration) Option {
	return func(o *options) error {
		o.session.KeepaliveInterval, o.session.KeepaliveTimeout = interval, timeout
		return nil
	}
}

// WithHandshakeTimeout bounds the handshake of each connection. Default 10 s.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(o *options) error {
		o.session.HandshakeTimeout = d
		return nil
	}
}

// WithLinger bounds how long a closed Conn keeps delivering bytes written
// before Close when the peer does not confirm them. Default 60 s. Call
// Conn.Drain before Close to know that everything arrived.
func WithLinger(d time.Duration) Option {
	return func(o *options) error {
		o.session.Linger = d
		return nil
	}
}

// WithErrorLog sets a function that a Listener calls with each incoming
// connection that failed its handshake (a port scanner, a peer of another
// version). Such connections never reach Accept. Default: ignore them.
func WithErrorLog(f func(error)) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("farpipe: WithErrorLog needs a function")
		}
		o.errorLog = f
		return nil
	}
}

// WithMaxHandshakes bounds how many incoming connections a Listener
// handshakes at once; more wait in the kernel's backlog. Default 64.
func WithMaxHandshakes(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("farpipe: WithMaxHandshakes needs at least 1, got %d", n)
		}
		o.maxHandshake = n
		return nil
	}
}
