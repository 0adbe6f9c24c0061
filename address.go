package farpipe

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Scheme is the scheme of one-time pipe addresses: "fp://HOST:PORT/#TOKEN"
// names a farpipe over TCP and carries the token that authenticates it.
const Scheme = "fp"

// splitAddr splits a farpipe address into the transport address to dial
// or listen on and the token it carries, if any.
func splitAddr(addr string) (transportAddr, token string, err error) {
	if !strings.HasPrefix(addr, Scheme+"://") {
		return addr, "", nil
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", "", fmt.Errorf("farpipe: bad address %q: write fp://HOST:PORT/#TOKEN", addr)
	}
	return "tcp://" + u.Host, u.Fragment, nil
}

// pipeURL is the one-time address of a pipe at addr with token.
func pipeURL(addr net.Addr, token string) string {
	host := addr.String()
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		host = net.JoinHostPort("localhost", fmt.Sprint(ta.Port))
	}
	return (&url.URL{Scheme: Scheme, Host: host, Path: "/", Fragment: token}).String()
}
