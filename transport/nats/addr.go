package nats

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/farpipe/farpipe/transport"
)

// Schemes under which the transport registers, and the scheme nats.go gives
// the same servers: plain NATS (which still upgrades to TLS when the server
// requires it), TLS required, NATS over WebSocket, and over secure WebSocket.
var schemes = map[string]string{
	"nats":     "nats",
	"nats+tls": "tls",
	"nats+ws":  "ws",
	"nats+wss": "wss",
}

// DefaultPort is the port of a NATS server address that names none.
const DefaultPort = "4222"

// MaxNameLen is the longest pipe name.
const MaxNameLen = 64

// addr is a parsed relay address: where the servers are, how to log in to
// them and the name of the pipe.
type addr struct {
	scheme  string   // one of the keys of schemes
	servers []string // nats.go URLs, without credentials
	user    string   // user name, or a token when password is unset
	pass    string
	hasPass bool
	query   url.Values // creds, ca, cert, key: files
	name    string
}

// queryKeys are the settings an address may carry after '?'.
var queryKeys = []string{"ca", "cert", "creds", "key"}

// parseAddr parses "[USER[:PASSWORD]@]HOST[:PORT][,HOST[:PORT]...]/NAME[?ca=FILE&creds=FILE&cert=FILE&key=FILE]",
// the part of a relay address after "SCHEME://".
func parseAddr(scheme, raw string) (addr, error) {
	a := addr{scheme: scheme}
	example := scheme + "://HOST:" + DefaultPort + "/NAME"
	rest, rawQuery, _ := strings.Cut(raw, "?")
	authority, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return addr{}, badAddr("farpipe: the relay address %q names no pipe: write %s", scheme+"://"+redact(raw), example)
	}
	if err := checkName(name); err != nil {
		return addr{}, err
	}
	a.name = name
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		ui := authority[:i]
		authority = authority[i+1:]
		u, err := url.PathUnescape(ui)
		if err != nil || u == "" {
			return addr{}, badAddr("farpipe: bad user in relay address %q: write USER:PASSWORD@HOST or TOKEN@HOST", scheme+"://"+redact(raw))
		}
		a.user, a.pass, a.hasPass = strings.Cut(u, ":")
	}
	if authority == "" {
		return addr{}, badAddr("farpipe: the relay address %q names no server: write %s", scheme+"://"+redact(raw), example)
	}
	for _, hp := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			host, port = hp, ""
			if strings.Count(hp, ":") > 1 && !strings.HasPrefix(hp, "[") {
				return addr{}, badAddr("farpipe: write the IPv6 address in %q in brackets: [%s]:%s", scheme+"://"+redact(raw), hp, DefaultPort)
			}
			host = strings.Trim(host, "[]")
		}
		if host == "" {
			return addr{}, badAddr("farpipe: a server in relay address %q has no host: write %s", scheme+"://"+redact(raw), example)
		}
		if port == "" && (scheme == "nats" || scheme == "nats+tls") {
			port = DefaultPort
		}
		hp = host
		if strings.Contains(host, ":") {
			hp = "[" + host + "]"
		}
		if port != "" {
			hp = net.JoinHostPort(host, port)
		}
		a.servers = append(a.servers, schemes[scheme]+"://"+hp)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return addr{}, badAddr("farpipe: bad settings after '?' in relay address %q: %v", scheme+"://"+redact(raw), err)
	}
	for k, v := range q {
		if !slices.Contains(queryKeys, k) || len(v) != 1 || v[0] == "" {
			return addr{}, badAddr("farpipe: unknown or repeated setting %q in relay address %q: the settings are %s, each a file, once", k, scheme+"://"+redact(raw), strings.Join(queryKeys, ", "))
		}
	}
	if (q.Get("cert") == "") != (q.Get("key") == "") {
		return addr{}, badAddr("farpipe: relay address %q: a client certificate needs both cert=FILE and key=FILE", scheme+"://"+redact(raw))
	}
	a.query = q
	return a, nil
}

// checkName checks a pipe name: it becomes one token of NATS subjects.
func checkName(name string) error {
	if len(name) > MaxNameLen {
		return badAddr("farpipe: the pipe name %q is %d bytes long: give at most %d", name, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return badAddr("farpipe: the pipe name %q may hold only letters, digits, '-' and '_'", name)
		}
	}
	return nil
}

// subject is the rendezvous subject of the pipe: where listeners wait for
// dialers.
func (a addr) subject() string { return "farpipe.pipe." + a.name }

// key identifies the servers and the login: connections with the same key
// share one NATS connection.
func (a addr) key() string {
	return strings.Join(a.servers, ",") + "\x00" + a.user + "\x00" + a.pass + "\x00" + a.query.Encode()
}

// relay names the servers, for messages: HOST:PORT[,HOST:PORT...].
func (a addr) relay() string {
	hosts := make([]string, len(a.servers))
	for i, s := range a.servers {
		_, hosts[i], _ = strings.Cut(s, "://")
	}
	return strings.Join(hosts, ",")
}

// String is the address without scheme and credentials, as Listener.Addr
// gives it to be printed for the peer.
func (a addr) String() string {
	s := a.relay() + "/" + a.name
	if len(a.query) > 0 {
		s += "?" + a.query.Encode()
	}
	return s
}

// redact hides the password or token of a raw address in messages.
func redact(raw string) string {
	at := strings.LastIndexByte(raw, '@')
	slash := strings.IndexByte(raw, '/')
	if at < 0 || (slash >= 0 && at > slash) {
		return raw
	}
	ui := raw[:at]
	if user, _, ok := strings.Cut(ui, ":"); ok {
		return user + ":xxxxx" + raw[at:]
	}
	return "xxxxx" + raw[at:]
}

type addrError struct{ msg string }

func (e *addrError) Error() string { return e.msg }
func (e *addrError) Unwrap() error { return transport.ErrBadAddress }

func badAddr(format string, args ...any) error {
	return &addrError{fmt.Sprintf(format, args...)}
}

// netAddr is the net.Addr of relay connections and listeners.
type netAddr struct {
	scheme string
	s      string
}

func (a netAddr) Network() string { return a.scheme }
func (a netAddr) String() string  { return a.s }
