package farpipe

import "testing"

// TestServerName: the host a dialer with certificates checks the
// listener's certificate against, from every form of transport address,
// notably wss://HOST/PATH without a port (was "").
func TestServerName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.org/farpipe/x", "example.org"},
		{"example.org:8443/farpipe/x", "example.org"},
		{"example.org/x?ca=/etc/ca.pem", "example.org"},
		{"example.org", "example.org"},
		{"127.0.0.1:7000", "127.0.0.1"},
		{"[::1]:7000", "::1"},
		{"[::1]/x", "::1"},
		{"[::1]", "::1"},
		{"TOKEN@relay.example:4222/NAME", "relay.example"},
		{"user:pa/ss@relay.example/NAME", "relay.example"},
		{"h1:4222,h2:4222/NAME", ""},
		{"/run/x.sock", ""},
		{"::1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := serverName(tt.in); got != tt.want {
			t.Errorf("serverName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
