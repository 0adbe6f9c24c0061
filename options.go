package farpipe

import (
	"fmt"
	"strings"
	"time"

	"github.com/farpipe/farpipe/secure"
	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/wire"
)

// Option configures Dial and Listen. Options are applied in order over the
// defaults; each documents its default.
type Option func(*options) error

type options struct {
	session      session.Config
	security     secure.Config
	errorLog     func(error)
	maxHandshake int
	maxSessions  int
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

// WithToken sets the shared secret both sides prove they hold. The token
// never crosses the network: each side sends an HMAC of it bound to the
// connection's TLS session and both sides' fresh nonces. A Listener without
// a token makes one up (Listener.Token, Listener.URL); a Dial to an
// "fp://HOST:PORT/#TOKEN" address takes the token from it. Use a token from
// NewToken, or at least 16 random characters.
func WithToken(token string) Option {
	return func(o *options) error {
		if err := secure.CheckToken(token); err != nil {
			return err
		}
		o.security.Token = token
		return nil
	}
}

// WithNoEncrypt turns encryption off, for trusted networks where throughput
// matters more: peers still prove the token to each other (challenge and
// response, never the token in clear), but anyone on the path can read the
// stream. Both sides must agree.
func WithNoEncrypt() Option {
	return func(o *options) error {
		o.security.NoEncrypt = true
		return nil
	}
}

// WithCertificates uses mutual TLS with real certificates: this side
// presents certFile and keyFile (PEM) and accepts only peers whose
// certificate chains to caFile. A token is then optional, and checked too
// if given.
func WithCertificates(certFile, keyFile, caFile string) Option {
	return func(o *options) error {
		o.security.CertFile, o.security.KeyFile, o.security.CAFile = certFile, keyFile, caFile
		return nil
	}
}

// NewToken returns a fresh random token (256 bits, base64url).
func NewToken() string { return secure.NewToken() }

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
// keepalive (default 1 s) and after how long without a single frame from
// the peer the connection counts as failed (default 4 s): a black-holed
// path is then treated like a reset, and the session resumes.
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

// WithRole declares this side's application role to the peer during the
// handshake (a short name such as "send" or "recv", at most 32 printable
// ASCII characters) and accepts only peers that declare one of peers (any
// role when peers is empty). A peer that declares no role is accepted, so
// that programs that do not use WithRole still connect. When the roles do
// not go together, both sides fail the handshake, after authentication and
// before any byte of the stream, with an error matching ErrRole: two
// senders, say, learn it at once instead of waiting for each other.
// Default: no role, any peer.
func WithRole(role string, peers ...string) Option {
	return func(o *options) error {
		for _, r := range append([]string{role}, peers...) {
			if len(r) > wire.MaxAppRole || strings.ContainsFunc(r, func(c rune) bool { return c <= ' ' || c > '~' }) {
				return fmt.Errorf("farpipe: WithRole: role %q: use at most %d printable ASCII characters without spaces", r, wire.MaxAppRole)
			}
		}
		for _, p := range peers {
			if p == "" {
				return fmt.Errorf("farpipe: WithRole: an accepted peer role is empty")
			}
		}
		o.session.Role, o.session.PeerRoles = role, append([]string(nil), peers...)
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
// handshakes at once; a connection beyond that drops the oldest one still in
// its handshake, so stalled clients cannot lock a legitimate peer out.
// Default 64.
func WithMaxHandshakes(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("farpipe: WithMaxHandshakes needs at least 1, got %d", n)
		}
		o.maxHandshake = n
		return nil
	}
}

// WithMaxSessions makes a Listener refuse new connections while n of its
// sessions are running (resumptions of those are still accepted): with 1,
// a listener serves exactly one pipe at a time. Default 0: no limit.
func WithMaxSessions(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("farpipe: WithMaxSessions needs 0 or more, got %d", n)
		}
		o.maxSessions = n
		return nil
	}
}

// WithResumeTimeout sets how long a connection that failed may take to come
// back: the dialing side reconnects with exponential backoff, the listening
// side keeps the session, and no byte is lost or duplicated. After it, the
// Conn fails with ErrConnLost. 0 disables resumption. Default 60 s.
func WithResumeTimeout(d time.Duration) Option {
	return func(o *options) error {
		o.session.ResumeTimeout = d
		return nil
	}
}

// WithBackoffMax caps the delay between reconnection attempts, which grows
// exponentially from 50 ms, each randomized ("full jitter"). Default 1 s.
func WithBackoffMax(d time.Duration) Option {
	return func(o *options) error {
		o.session.BackoffMax = d
		return nil
	}
}

// WithEvents sets a function called when the connection fails, when a
// reconnection attempt fails and when the session resumes. It must not
// block.
func WithEvents(f func(Event)) Option {
	return func(o *options) error {
		o.session.OnEvent = f
		return nil
	}
}

// Event reports a disconnection, a failed reconnection attempt, or a
// resumption; its String method is a one-line description.
type Event = session.Event

// Kinds of Event.
const (
	EventDisconnected = session.EventDisconnected
	EventRetry        = session.EventRetry
	EventResumed      = session.EventResumed
)

// secureFor completes the security options for addr: the token an fp://
// address carries, a new token for a listener that has none (and no
// certificates), and whether the transport is local. It returns the
// transport address.
func (o *options) secureFor(addr string, listening bool) (string, error) {
	addr, token, err := splitAddr(addr)
	if err != nil {
		return "", err
	}
	if listening && token == "" && o.security.Token == "" && !o.security.PKI() {
		token = secure.NewToken()
	}
	if token != "" {
		if err := WithToken(token)(o); err != nil {
			return "", err
		}
	}
	if err := o.security.Check(); err != nil {
		return "", err
	}
	o.security.Local = transport.IsLocal(addr)
	return addr, nil
}

// WithCompression compresses the Conn's bytes (channel 0; the other
// channels are never compressed) with "zstd" (Zstandard at its fastest
// level), or not ("none", the default). Both sides negotiate it in the
// handshake: a dialer asks for it; a listener given WithCompression
// decides, whatever the dialer asked; a listener without it follows the
// dialer. A peer that does not know compression gets none. Compressed, a
// Read that hits its deadline ends the reading direction for good.
func WithCompression(name string) Option {
	return func(o *options) error {
		switch name {
		case "zstd":
			o.session.Compress = wire.CompressZstd
		case "none":
			o.session.Compress = wire.CompressNone
		default:
			return fmt.Errorf("farpipe: unknown compression %q: use zstd or none", name)
		}
		o.session.CompressFirm = true
		return nil
	}
}
