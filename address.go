package farpipe

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/farpipe/farpipe/transport"
)

// Scheme is the scheme of one-time pipe addresses over TCP:
// "fp://HOST:PORT/#TOKEN" names a farpipe over TCP and carries the token
// that authenticates it. Any other address with a scheme may carry a token
// the same way, after a '#' at its end: "unix:///run/x.sock#TOKEN",
// "shm://NAME#TOKEN".
const Scheme = "fp"

// splitAddr splits a farpipe address into the transport address to dial
// or listen on and the token it carries, if any.
func splitAddr(addr string) (transportAddr, token string, err error) {
	if strings.HasPrefix(addr, Scheme+"://") {
		u, err := url.Parse(addr)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return "", "", badAddress("farpipe: bad address %q: write fp://HOST:PORT/#TOKEN", addr)
		}
		return "tcp://" + u.Host, u.Fragment, nil
	}
	i := strings.Index(addr, "://")
	j := strings.LastIndexByte(addr, '#')
	if i < 0 || j < i {
		return addr, "", nil
	}
	if j == len(addr)-1 {
		return "", "", badAddress("farpipe: bad address %q: nothing follows '#', where the token belongs", addr)
	}
	return addr[:j], addr[j+1:], nil
}

// addrError is a one-line message that matches transport.ErrBadAddress.
type addrError struct{ msg string }

func (e *addrError) Error() string { return e.msg }
func (e *addrError) Unwrap() error { return transport.ErrBadAddress }

func badAddress(format string, args ...any) error {
	return &addrError{msg: fmt.Sprintf(format, args...)}
}

// pipeURL is the one-time address of a pipe at addr, listened on with
// transport scheme, with token: "fp://HOST:PORT/#TOKEN" over TCP,
// "SCHEME://ADDRESS#TOKEN" over any other transport.
func pipeURL(scheme string, addr net.Addr, token string) string {
	if scheme != transport.DefaultScheme {
		u := scheme + "://" + addr.String()
		if token != "" {
			u += "#" + token
		}
		return u
	}
	host := addr.String()
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		host = net.JoinHostPort("localhost", fmt.Sprint(ta.Port))
	}
	return (&url.URL{Scheme: Scheme, Host: host, Path: "/", Fragment: token}).String()
}
