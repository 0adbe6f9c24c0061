package transport

import (
	"net"
	"strconv"
	"strings"
)

// SplitHostPort splits a HOST:PORT address as used by tcp and any other
// transport addressed by host and port. It is stricter and friendlier than
// [net.SplitHostPort]: the port must be a number from 0 to 65535 (0 asks
// Listen for a free port), the host must be empty (all interfaces, or the
// local host when dialling), a host name, an IPv4 address or an IPv6 address
// in brackets. Errors wrap [ErrBadAddress] and say what to write, for
// example:
//
//	farpipe: address "127.0.0.1" has no port: write HOST:PORT, for example 127.0.0.1:7000
func SplitHostPort(addr string) (host, port string, err error) {
	if addr == "" {
		return "", "", badAddress("farpipe: empty address: write HOST:PORT, for example 127.0.0.1:7000")
	}
	if strings.IndexFunc(addr, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "", "", badAddress("farpipe: address %q contains a space or control character: write HOST:PORT, for example 127.0.0.1:7000", addr)
	}
	bare := addr
	if len(addr) > 2 && addr[0] == '[' && addr[len(addr)-1] == ']' {
		bare = addr[1 : len(addr)-1]
	}
	if strings.Contains(bare, ":") && net.ParseIP(bare) != nil {
		// "::1", "[::1]" or "::1:7000": an IPv6 address without a port, or
		// with one that cannot be told apart from the address.
		return "", "", badAddress("farpipe: address %q has no port, or an IPv6 address without brackets: write [IPV6]:PORT, for example [::1]:7000", addr)
	}
	if !strings.Contains(addr, ":") {
		return "", "", badAddress("farpipe: address %q has no port: write HOST:PORT, for example %s:7000", addr, addr)
	}
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", badAddress("farpipe: address %q is not HOST:PORT: write for example 127.0.0.1:7000, or [::1]:7000 for IPv6", addr)
	}
	if port == "" {
		return "", "", badAddress("farpipe: address %q has no port: write HOST:PORT, for example %s", addr, joinExample(host))
	}
	if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
		return "", "", badAddress("farpipe: port %q in address %q is not a number from 0 to 65535", port, addr)
	}
	if !validHost(host) {
		return "", "", badAddress("farpipe: host %q in address %q is not a host name or IP address (put IPv6 addresses in brackets, for example [::1]:7000)", host, addr)
	}
	return host, port, nil
}

// joinExample returns host:7000 for use in an error message, with a
// placeholder for an empty host and brackets around an IPv6 host.
func joinExample(host string) string {
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, "7000")
}

// validHost reports whether h is empty, an IP address (IPv6 possibly with a
// %zone) or a syntactically plausible host name.
func validHost(h string) bool {
	if h == "" {
		return true
	}
	if strings.Contains(h, ":") {
		ip, _, _ := strings.Cut(h, "%")
		return net.ParseIP(ip) != nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}
