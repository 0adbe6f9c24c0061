package main

import (
	"net"
	"testing"

	"github.com/farpipe/farpipe/transport"
)

// strAddr is a net.Addr of a transport whose addresses are not IP ones
// (ws: HOST:PORT/PATH).
type strAddr struct{ network, s string }

func (a strAddr) Network() string { return a.network }
func (a strAddr) String() string  { return a.s }

// TestDialableURL: the command a listener prints for the other host names
// a host it can dial in place of "[::]" or "0.0.0.0", over every transport
// as over tcp, and keeps the transport's scheme and path.
func TestDialableURL(t *testing.T) {
	any6 := &net.TCPAddr{IP: net.IPv6unspecified, Port: 7000}
	tests := []struct {
		scheme string
		addr   net.Addr
		want   string // "": keep Listener.URL
	}{
		{transport.DefaultScheme, any6, "fp://203.0.113.5:7000/#TOK"},
		{transport.DefaultScheme, &net.TCPAddr{IP: net.IPv4zero, Port: 7000}, "fp://203.0.113.5:7000/#TOK"},
		{transport.DefaultScheme, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7000}, ""},
		{"ws", strAddr{"ws", "[::]:7000/farpipe/x"}, "ws://203.0.113.5:7000/farpipe/x#TOK"},
		{"wss", strAddr{"wss", "0.0.0.0:8443/x"}, "wss://203.0.113.5:8443/x#TOK"},
		{"ws", strAddr{"ws", "127.0.0.1:7000/x"}, ""},
		{"ws", strAddr{"ws", "example.org:7000/x"}, ""},
		{"grpc", any6, "grpc://203.0.113.5:7000#TOK"},
		{"quic", &net.UDPAddr{IP: net.IPv6unspecified, Port: 7000}, "quic://203.0.113.5:7000#TOK"},
		{"unix", &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.scheme+"/"+tt.addr.String(), func(t *testing.T) {
			got := dialableURL(tt.scheme, tt.addr, "TOK", func() string { return "203.0.113.5" })
			if got != tt.want {
				t.Errorf("dialableURL(%q, %q) = %q, want %q", tt.scheme, tt.addr, got, tt.want)
			}
		})
	}
	if got := dialableURL("ws", strAddr{"ws", "[::]:7000/x"}, "TOK", func() string { return "" }); got != "" {
		t.Errorf("with no host found: %q, want \"\" (Listener.URL)", got)
	}
	if got := dialableURL("ws", strAddr{"ws", "[::]:7000/x"}, "TOK", func() string { return "2001:db8::1" }); got != "ws://[2001:db8::1]:7000/x#TOK" {
		t.Errorf("with an IPv6 host: %q", got)
	}
}
