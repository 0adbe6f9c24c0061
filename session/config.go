package session

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// Config tunes a session. A nil *Config means DefaultConfig().
type Config struct {
	// Window is the most bytes in flight per channel and direction: written
	// by the application but not yet delivered to the peer's application.
	// It bounds memory on both sides and is what makes a slow reader slow
	// the writer. The effective window is the smaller of the two sides'.
	// Default 8 MiB.
	Window int

	// FrameSize is the largest DATA payload this side sends. Default 256 KiB,
	// at most wire.MaxData.
	FrameSize int

	// KeepaliveInterval: a PING is sent when nothing else was sent for this
	// long. Default 1 s.
	KeepaliveInterval time.Duration

	// KeepaliveTimeout: the connection counts as failed when nothing at all
	// was received on it for this long (a black hole: no reset, no FIN).
	// A resumable session then reconnects. Default 4 s; must exceed
	// KeepaliveInterval.
	KeepaliveTimeout time.Duration

	// HandshakeTimeout bounds the handshake. Default 10 s.
	HandshakeTimeout time.Duration

	// Linger bounds how long a closed session keeps delivering what was
	// written before Close, when the peer does not confirm it. Default 60 s.
	Linger time.Duration

	// ResumeTimeout is how long a session whose connection failed waits to
	// be resumed: the dialing side keeps reconnecting, the listening side
	// (through an Acceptor) keeps the session, and both give up after it.
	// 0 disables resumption: a failed connection ends the session. A
	// session is resumable only when both sides allow it. Default 60 s.
	ResumeTimeout time.Duration

	// BackoffMax caps the delay between reconnection attempts, which grows
	// exponentially from 50 ms with full jitter. Default 1 s.
	BackoffMax time.Duration

	// Redial makes a new connection to the same peer, for resumption on the
	// dialing side. Without it, Client sessions are not resumable.
	Redial func(ctx context.Context) (net.Conn, error)

	// OnEvent, if set, is called when the connection fails, a reconnection
	// attempt fails, and the session is resumed. It must not block.
	OnEvent func(Event)

	// Auth proves and checks knowledge of a shared secret during the
	// handshake. Default: none (the peer is not authenticated).
	Auth Authenticator

	// Role is the application's role on this side, declared to the peer in
	// the HELLO (at most wire.MaxAppRole printable ASCII bytes); empty:
	// none. PeerRoles lists the roles accepted from the peer; empty: any. A
	// peer that declares no role is always accepted. A mismatch fails the
	// handshake, after authentication and before any data, with a
	// *RoleError on this side and ABORT code CodeRole to the peer.
	Role      string
	PeerRoles []string

	// Compress is the compression this side wants on channel 0, and
	// CompressFirm whether it insists. The session only negotiates it
	// (Session.Compression); the layer above compresses. A dialer offers
	// Compress first and every other compression it knows after it. A
	// listener that insists uses its own Compress if the dialer offered it;
	// otherwise it takes the dialer's first choice it knows. A peer that
	// offers nothing (an older farpipe) gets CompressNone.
	Compress     wire.Compression
	CompressFirm bool
}

// DefaultConfig returns the default configuration.
func DefaultConfig() *Config {
	return &Config{
		Window:            8 << 20,
		FrameSize:         256 << 10,
		KeepaliveInterval: time.Second,
		KeepaliveTimeout:  4 * time.Second,
		HandshakeTimeout:  10 * time.Second,
		Linger:            60 * time.Second,
		ResumeTimeout:     60 * time.Second,
		BackoffMax:        time.Second,
		Auth:              NoAuth{},
	}
}

// Verify checks that c is usable.
func (c *Config) Verify() error {
	switch {
	case c.Window < 64<<10 || c.Window > 1<<30:
		return fmt.Errorf("farpipe: window of %d bytes is out of range: use 64 KiB to 1 GiB", c.Window)
	case c.FrameSize < 1 || c.FrameSize > wire.MaxData:
		return fmt.Errorf("farpipe: frame size of %d bytes is out of range: use 1 to %d", c.FrameSize, wire.MaxData)
	case c.KeepaliveInterval <= 0:
		return fmt.Errorf("farpipe: keepalive interval must be positive")
	case c.KeepaliveTimeout <= c.KeepaliveInterval:
		return fmt.Errorf("farpipe: keepalive timeout (%s) must exceed the keepalive interval (%s)", c.KeepaliveTimeout, c.KeepaliveInterval)
	case c.HandshakeTimeout <= 0 || c.Linger <= 0:
		return fmt.Errorf("farpipe: handshake timeout and linger must be positive")
	case c.ResumeTimeout < 0 || c.BackoffMax <= 0:
		return fmt.Errorf("farpipe: resume timeout must not be negative and the backoff cap must be positive")
	case c.Auth == nil:
		return fmt.Errorf("farpipe: no authenticator configured")
	case !knownCompression(c.Compress):
		return fmt.Errorf("farpipe: unknown compression %v: use none or zstd", c.Compress)
	}
	return nil
}

func (c *Config) orDefault() (*Config, error) {
	if c == nil {
		return DefaultConfig(), nil
	}
	cp := *c
	return &cp, cp.Verify()
}

// compressions are those this side knows, in its order of preference when
// it has none of its own.
var compressions = []wire.Compression{wire.CompressNone, wire.CompressZstd}

func knownCompression(c wire.Compression) bool {
	for _, k := range compressions {
		if k == c {
			return true
		}
	}
	return false
}

// offer is what a dialer puts in its HELLO: its wish, then the others.
func (c *Config) offer() []wire.Compression {
	o := []wire.Compression{c.Compress}
	for _, k := range compressions {
		if k != c.Compress {
			o = append(o, k)
		}
	}
	return o
}

// choose is a listener's answer to a dialer's offer (nil: an older dialer
// that offered nothing).
func (c *Config) choose(offer []wire.Compression) wire.Compression {
	if len(offer) == 0 {
		return wire.CompressNone
	}
	if c.CompressFirm {
		for _, o := range offer {
			if o == c.Compress {
				return o
			}
		}
		return wire.CompressNone
	}
	for _, o := range offer {
		if knownCompression(o) {
			return o
		}
	}
	return wire.CompressNone
}
