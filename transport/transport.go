package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
)

// Transport moves bytes between two endpoints. Implementations only move
// data and classify errors; resume, flow control and security live in the
// session layer.
//
// Dial and Listen receive the address without its "scheme://" prefix. Both
// must honour ctx while they block, and their errors must start with
// "farpipe: " and wrap the cause with %w. The returned values must satisfy
// the net.Conn and net.Listener contracts (safe for concurrent use, Close
// unblocks pending calls); transporttest.Run checks this.
type Transport interface {
	// Dial connects to addr. Cancelling ctx before the connection is made
	// aborts the dial with an error that satisfies errors.Is(err, ctx.Err()).
	// Once Dial returns, ctx no longer affects the connection.
	Dial(ctx context.Context, addr string) (net.Conn, error)

	// Listen announces addr and returns a listener for it. Once Listen
	// returns, ctx no longer affects the listener.
	Listen(ctx context.Context, addr string) (net.Listener, error)
}

// AddrValidator is implemented by a Transport that can check an address
// without touching the network. [Parse] calls ValidateAddr so that a typo is
// reported before anything is dialled. The error should wrap
// [ErrBadAddress] and start with "farpipe: ".
type AddrValidator interface {
	ValidateAddr(addr string) error
}

// Local is implemented by a Transport whose connections never leave the
// host (unix sockets, shared memory): the kernel delivers their bytes, so
// the layers above may skip encryption and integrity tags on them.
type Local interface {
	Local() bool
}

// IsLocal reports whether the transport of the address raw is Local.
func IsLocal(raw string) bool {
	scheme, _, err := Parse(raw)
	if err != nil {
		return false
	}
	t, ok := Lookup(scheme)
	if !ok {
		return false
	}
	l, ok := t.(Local)
	return ok && l.Local()
}

// Buffered is implemented by a connection whose Read copies from memory
// the transport already holds (whole messages from a relay) instead of
// making a system call: a layer above reads it directly rather than
// through a buffer of its own, which would only copy the bytes once more.
type Buffered interface {
	Buffered() bool
}

// Rendezvous is implemented by a Transport whose two ends both dial out to
// a server in the middle, a relay: listening means waiting at a name on it,
// and a listener is reachable from wherever the relay is.
type Rendezvous interface {
	Rendezvous() bool
}

// IsRendezvous reports whether the transport of the address raw is a
// Rendezvous.
func IsRendezvous(raw string) bool {
	scheme, _, err := Parse(raw)
	if err != nil {
		return false
	}
	t, _ := Lookup(scheme)
	r, ok := t.(Rendezvous)
	return ok && r.Rendezvous()
}

// DefaultScheme is the scheme of an address written without "://".
const DefaultScheme = "tcp"

// Sentinel errors, for errors.Is. The errors returned by this package carry a
// longer message that names the address and says what to write instead.
var (
	// ErrUnknownScheme means the address names a scheme for which no
	// transport is registered.
	ErrUnknownScheme = errors.New("farpipe: unknown transport")

	// ErrBadAddress means the address is empty or malformed.
	ErrBadAddress = errors.New("farpipe: bad address")
)

// addrError is an error with a full, friendly message that wraps one of the
// sentinels above.
type addrError struct {
	msg  string
	kind error
}

func (e *addrError) Error() string { return e.msg }
func (e *addrError) Unwrap() error { return e.kind }

// badAddress returns an error wrapping ErrBadAddress; format must start with
// "farpipe: ".
func badAddress(format string, args ...any) error {
	return &addrError{msg: fmt.Sprintf(format, args...), kind: ErrBadAddress}
}

var (
	registryMu sync.RWMutex
	registry   = make(map[string]Transport)
)

// Register makes a transport available under scheme. It is meant to be
// called from the init function of the transport's package. Register panics
// if scheme is empty or not a valid URL scheme (a letter followed by
// lower-case letters, digits, '+', '-' or '.'), if t is nil, or if the scheme
// is already registered: these are programmer errors, as with database/sql.
func Register(scheme string, t Transport) {
	if !validScheme(scheme) {
		panic(fmt.Sprintf("farpipe: transport.Register: invalid scheme %q (want a lower-case URL scheme such as \"tcp\")", scheme))
	}
	if t == nil {
		panic(fmt.Sprintf("farpipe: transport.Register: nil transport for scheme %q", scheme))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[scheme]; dup {
		panic(fmt.Sprintf("farpipe: transport.Register called twice for scheme %q", scheme))
	}
	registry[scheme] = t
}

// Lookup returns the transport registered under scheme.
func Lookup(scheme string) (Transport, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	t, ok := registry[scheme]
	return t, ok
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s := make([]string, 0, len(registry))
	for k := range registry {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// validScheme reports whether s is a non-empty lower-case URL scheme
// (RFC 3986 section 3.1).
func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// Parse splits raw, written "scheme://rest", into scheme and rest. An address
// without "://", such as "127.0.0.1:7000" or ":7000", means scheme "tcp". The
// scheme is matched case-insensitively and returned in lower case. Parse
// fails if the scheme is not registered (wrapping [ErrUnknownScheme]) or if
// the address is empty or rejected by the transport's [AddrValidator]
// (wrapping [ErrBadAddress]). The error is one line that says what to do,
// for example:
//
//	farpipe: unknown transport "foo" in "foo://x" (known: tcp, unix)
//	farpipe: address "127.0.0.1" has no port: write HOST:PORT, for example 127.0.0.1:7000
func Parse(raw string) (scheme, addr string, err error) {
	if strings.TrimSpace(raw) == "" {
		return "", "", badAddress("farpipe: empty address: write HOST:PORT, for example 127.0.0.1:7000")
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme, addr = strings.ToLower(raw[:i]), raw[i+3:]
		if scheme == "" {
			return "", "", &addrError{
				msg:  fmt.Sprintf("farpipe: missing transport name before \"://\" in %q (known: %s)", raw, known()),
				kind: ErrUnknownScheme,
			}
		}
	} else {
		scheme, addr = DefaultScheme, raw
	}
	t, ok := Lookup(scheme)
	if !ok {
		return "", "", &addrError{
			msg:  fmt.Sprintf("farpipe: unknown transport %q in %q (known: %s)", scheme, raw, known()),
			kind: ErrUnknownScheme,
		}
	}
	if v, ok := t.(AddrValidator); ok {
		if err := v.ValidateAddr(addr); err != nil {
			return "", "", err
		}
	}
	if addr == "" {
		return "", "", badAddress("farpipe: empty address in %q: write %s://ADDRESS", raw, scheme)
	}
	return scheme, addr, nil
}

// known lists the registered schemes for error messages.
func known() string {
	s := Schemes()
	if len(s) == 0 {
		return "none registered; import a transport package such as github.com/farpipe/farpipe/transport/tcp"
	}
	return strings.Join(s, ", ")
}

// Dial parses raw with [Parse] and dials it with the registered transport.
func Dial(ctx context.Context, raw string) (net.Conn, error) {
	scheme, addr, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	t, _ := Lookup(scheme)
	return t.Dial(ctx, addr)
}

// Listen parses raw with [Parse] and listens on it with the registered
// transport.
func Listen(ctx context.Context, raw string) (net.Listener, error) {
	scheme, addr, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	t, _ := Lookup(scheme)
	return t.Listen(ctx, addr)
}
