package ws

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/farpipe/farpipe/transport"
)

// Default ports of the two schemes, as in HTTP.
const (
	DefaultPort       = "80"
	DefaultSecurePort = "443"
)

// addr is a parsed WebSocket address: HOST[:PORT]/PATH[?ca=FILE&cert=FILE&key=FILE].
type addr struct {
	scheme   string // "ws" or "wss"
	host     string // without brackets; empty: every interface (listen) or the local host (dial)
	port     string // always set: the default port if the address names none
	path     string // starts with '/'
	ca       string // wss dial: a PEM file of CA certificates trusted besides the system's
	cert     string // wss listen: the server's PEM certificate (chain)
	key      string // wss listen: its PEM private key
	hostPort string // host and port as written in a URL
}

// addrError is a one-line message that matches transport.ErrBadAddress.
type addrError struct {
	msg string
}

func (e *addrError) Error() string { return e.msg }
func (e *addrError) Unwrap() error { return transport.ErrBadAddress }

func bad(format string, args ...any) error {
	return &addrError{msg: fmt.Sprintf(format, args...)}
}

// example is an address of scheme to show in error messages.
func example(scheme string) string {
	return scheme + "://HOST[:PORT]/PATH, for example " + scheme + "://example.com/farpipe/NAME"
}

// parseAddr parses raw, the part of a ws:// or wss:// address after the
// "://", without touching the network.
func parseAddr(scheme, raw string) (addr, error) {
	a := addr{scheme: scheme, port: DefaultPort}
	if scheme == "wss" {
		a.port = DefaultSecurePort
	}
	full := scheme + "://" + raw
	if raw == "" {
		return addr{}, bad("farpipe: empty address: write %s", example(scheme))
	}
	if strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return addr{}, bad("farpipe: address %q contains a space or control character: write %s", full, example(scheme))
	}
	rest, rawQuery, hasQuery := strings.Cut(raw, "?")
	authority, path, hasPath := strings.Cut(rest, "/")
	if strings.Contains(authority, "@") {
		return addr{}, bad("farpipe: address %q carries a user name: ws and wss take none (the token authenticates the pipe): write %s", full, example(scheme))
	}
	if hasPath {
		a.path = "/" + path
	} else {
		a.path = "/"
	}
	if err := checkPath(full, a.path); err != nil {
		return addr{}, err
	}
	hp := authority
	if authority == "" || !strings.Contains(authority, ":") || strings.HasSuffix(authority, "]") {
		hp = authority + ":" + a.port // no port: the scheme's
	}
	host, port, err := transport.SplitHostPort(hp)
	if err != nil {
		return addr{}, bad("farpipe: bad host or port in %q (%v): write %s", full, strings.TrimPrefix(err.Error(), "farpipe: "), example(scheme))
	}
	a.host, a.port, a.hostPort = host, port, net.JoinHostPort(host, port)
	if hasQuery {
		if err := a.parseQuery(full, rawQuery); err != nil {
			return addr{}, err
		}
	}
	return a, nil
}

// checkPath accepts the characters of a plain URL path: letters, digits,
// '-', '.', '_', '~' and '/'.
func checkPath(full, path string) error {
	for i := 0; i < len(path); i++ {
		c := path[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/'
		if !ok {
			return bad("farpipe: path %q in %q has the character %q: use letters, digits, '-', '.', '_', '~' and '/'", path, full, c)
		}
	}
	return nil
}

// parseQuery reads the settings after '?': ca, cert and key, for wss only.
func (a *addr) parseQuery(full, rawQuery string) error {
	if a.scheme != "wss" {
		return bad("farpipe: %q: ws:// takes no settings after '?' (ca, cert and key are for wss://)", full)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return bad("farpipe: bad settings after '?' in %q: write ?ca=FILE to dial, ?cert=FILE&key=FILE to listen", full)
	}
	for k, v := range q {
		var dst *string
		switch k {
		case "ca":
			dst = &a.ca
		case "cert":
			dst = &a.cert
		case "key":
			dst = &a.key
		default:
			return bad("farpipe: unknown setting %q in %q: wss:// takes ca=FILE (to dial) and cert=FILE&key=FILE (to listen)", k, full)
		}
		if len(v) != 1 || v[0] == "" {
			return bad("farpipe: setting %q in %q must be given once, with a file name", k, full)
		}
		*dst = v[0]
	}
	if (a.cert == "") != (a.key == "") {
		return bad("farpipe: %q gives only one of cert and key: a wss:// listener needs both, ?cert=FILE&key=FILE", full)
	}
	return nil
}

// url is the address to dial, for the WebSocket library.
func (a addr) url() string {
	host := a.host
	if host == "" {
		host = "localhost"
	}
	return (&url.URL{Scheme: a.scheme, Host: net.JoinHostPort(host, a.port), Path: a.path}).String()
}

// String is the address without its scheme and settings, as a dialer would
// write it: HOST:PORT/PATH.
func (a addr) String() string { return a.hostPort + a.path }

// netAddr is a net.Addr of this transport: Network is the scheme, String
// is HOST:PORT/PATH, which Dial accepts.
type netAddr struct{ network, s string }

func (n netAddr) Network() string { return n.network }
func (n netAddr) String() string  { return n.s }
