package nats

import (
	"errors"
	"strings"
	"testing"

	"github.com/farpipe/farpipe/transport"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		scheme, raw string
		servers     string // joined by " "; empty: an error is wanted
		name, user  string
		str         string // String(); empty: not checked
		err         string // part of the error
	}{
		{scheme: "nats", raw: "relay.example/backup", servers: "nats://relay.example:4222", name: "backup", str: "relay.example:4222/backup"},
		{scheme: "nats", raw: "10.0.0.1:4333/x_y-1", servers: "nats://10.0.0.1:4333", name: "x_y-1"},
		{scheme: "nats", raw: "[::1]:4222/p", servers: "nats://[::1]:4222", name: "p"},
		{scheme: "nats", raw: "a:1,b:2,c/p", servers: "nats://a:1 nats://b:2 nats://c:4222", name: "p", str: "a:1,b:2,c:4222/p"},
		{scheme: "nats", raw: "alice:s3cret@relay/p", servers: "nats://relay:4222", name: "p", user: "alice", str: "relay:4222/p"},
		{scheme: "nats", raw: "tok@relay/p", servers: "nats://relay:4222", name: "p", user: "tok"},
		{scheme: "nats+tls", raw: "relay/p?ca=/etc/ca.pem", servers: "tls://relay:4222", name: "p", str: "relay:4222/p?ca=%2Fetc%2Fca.pem"},
		{scheme: "nats+ws", raw: "relay:8080/p", servers: "ws://relay:8080", name: "p"},
		{scheme: "nats+wss", raw: "relay/p", servers: "wss://relay", name: "p"},
		{scheme: "nats", raw: "relay", err: "names no pipe"},
		{scheme: "nats", raw: "relay/", err: "names no pipe"},
		{scheme: "nats", raw: "/p", err: "names no server"},
		{scheme: "nats", raw: "relay/a.b", err: "only letters"},
		{scheme: "nats", raw: "relay/a>", err: "only letters"},
		{scheme: "nats", raw: "relay/" + strings.Repeat("x", 65), err: "at most 64"},
		{scheme: "nats", raw: "relay/p?foo=1", err: "unknown or repeated setting"},
		{scheme: "nats", raw: "relay/p?cert=a", err: "needs both"},
		{scheme: "nats", raw: "::1:4222/p", err: "brackets"},
		{scheme: "nats", raw: "alice:pw@/p", err: "names no server"},
	} {
		t.Run(tc.scheme+"://"+tc.raw, func(t *testing.T) {
			a, err := parseAddr(tc.scheme, tc.raw)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, transport.ErrBadAddress) || !strings.HasPrefix(err.Error(), "farpipe: ") {
					t.Fatalf("error %v, want one about %q wrapping ErrBadAddress", err, tc.err)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(a.servers, " "); got != tc.servers || a.name != tc.name || a.user != tc.user {
				t.Fatalf("got servers %q name %q user %q", got, a.name, a.user)
			}
			if tc.str != "" && a.String() != tc.str {
				t.Fatalf("String() = %q, want %q", a.String(), tc.str)
			}
			if strings.Contains(a.String(), "s3cret") {
				t.Fatalf("String() shows the password: %q", a.String())
			}
		})
	}
}
