package relay

import (
	"slices"
	"strings"
	"testing"
)

func TestReachableURLs(t *testing.T) {
	for _, tt := range []struct {
		listen string
	}{
		{"127.0.0.1:0"},
		{"localhost:0"},
	} {
		t.Run(tt.listen, func(t *testing.T) {
			s := startRelay(t, Config{Listen: tt.listen})
			urls := s.ReachableURLs()
			if len(urls) != 1 || urls[0] != s.ClientURL() {
				t.Fatalf("ReachableURLs %q, want only ClientURL %s", urls, s.ClientURL())
			}
			if !strings.Contains(s.ReadyLine(), "use "+urls[0]+" (--relay "+urls[0]+")") {
				t.Errorf("ReadyLine %q does not name %s", s.ReadyLine(), urls[0])
			}
		})
	}
}

// TestReachableURLsEveryInterface: the tests listen only on loopback, so
// the addresses of a relay on every interface are checked without one.
func TestReachableURLsEveryInterface(t *testing.T) {
	const local = "nats://127.0.0.1:4222"
	for _, tt := range []struct {
		name, hostname string
		addrs, want    []string
	}{
		{"a fully qualified name first", "relay.example.org", []string{"192.0.2.7", "2001:db8::7"},
			[]string{"nats://relay.example.org:4222", "nats://192.0.2.7:4222", "nats://[2001:db8::7]:4222"}},
		{"addresses before a short name", "laptop", []string{"192.0.2.7"},
			[]string{"nats://192.0.2.7:4222", "nats://laptop:4222"}},
		{"nothing known", "", nil, []string{local}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := reachableURLs(local, tt.hostname, tt.addrs); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLocalURL(t *testing.T) {
	for _, tt := range []struct {
		scheme, host, raw, want string
	}{
		{"nats", "", "nats://0.0.0.0:4222", "nats://127.0.0.1:4222"},
		{"nats", "0.0.0.0", "nats://0.0.0.0:4222", "nats://127.0.0.1:4222"},
		{"nats", "::", "nats://[::]:4222", "nats://[::1]:4222"},
		{"ws", "127.0.0.2", "ws://127.0.0.2:8080", "ws://127.0.0.2:8080"},
		{"nats", "relay.example.org", "nats://relay.example.org:4222", "nats://relay.example.org:4222"},
	} {
		if got := localURL(tt.scheme, tt.host, tt.raw); got != tt.want {
			t.Errorf("localURL(%q, %q, %q) = %q, want %q", tt.scheme, tt.host, tt.raw, got, tt.want)
		}
	}
}
