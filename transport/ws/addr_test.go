package ws_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/ws"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		scheme, raw         string
		url, hostPort, path string
		ca, cert, key       string
	}{
		{"ws", "example.com/farpipe/x", "ws://example.com:80/farpipe/x", "example.com:80", "/farpipe/x", "", "", ""},
		{"wss", "example.com/farpipe/x", "wss://example.com:443/farpipe/x", "example.com:443", "/farpipe/x", "", "", ""},
		{"ws", "127.0.0.1:8080/p", "ws://127.0.0.1:8080/p", "127.0.0.1:8080", "/p", "", "", ""},
		{"ws", "[::1]:8080/p", "ws://[::1]:8080/p", "[::1]:8080", "/p", "", "", ""},
		{"ws", "[::1]/p", "ws://[::1]:80/p", "[::1]:80", "/p", "", "", ""},
		{"ws", ":8080/farpipe", "ws://localhost:8080/farpipe", ":8080", "/farpipe", "", "", ""},
		{"ws", "host", "ws://host:80/", "host:80", "/", "", "", ""},
		{"ws", "host:0/", "ws://host:0/", "host:0", "/", "", "", ""},
		{"wss", "h/p?ca=/etc/ca.pem", "wss://h:443/p", "h:443", "/p", "/etc/ca.pem", "", ""},
		{"wss", ":443/p?cert=c.pem&key=k.pem", "wss://localhost:443/p", ":443", "/p", "", "c.pem", "k.pem"},
	} {
		url, hostPort, path, ca, cert, key, err := ws.ParseAddr(tc.scheme, tc.raw)
		if err != nil {
			t.Errorf("%s://%s: %v", tc.scheme, tc.raw, err)
			continue
		}
		got := []string{url, hostPort, path, ca, cert, key}
		want := []string{tc.url, tc.hostPort, tc.path, tc.ca, tc.cert, tc.key}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s://%s: got %q, want %q", tc.scheme, tc.raw, got, want)
		}
	}
}

// TestBadAddress checks that bad addresses are refused before the network
// with an error wrapping transport.ErrBadAddress that says what is wrong.
func TestBadAddress(t *testing.T) {
	for _, tc := range []struct{ raw, says string }{
		{"ws://", "empty address"},
		{"ws://host:99999/p", "not a number"},
		{"ws://host:http/p", "not a number"},
		{"ws://::1/p", "brackets"},
		{"ws://user:pw@host/p", "user name"},
		{"ws://host/a b", "space"},
		{"ws://host/a%20b", "character '%'"},
		{"ws://host/p?x", "ws:// takes no settings"},
		{"wss://host/p?x=1", `unknown setting "x"`},
		{"wss://host/p?ca=", "once, with a file name"},
		{"wss://host/p?ca=a&ca=b", "once, with a file name"},
		{"wss://host/p?cert=c.pem", "only one of cert and key"},
		{"ws://ho$t/p", "bad host or port"},
	} {
		_, _, err := transport.Parse(tc.raw)
		if !errors.Is(err, transport.ErrBadAddress) || !strings.HasPrefix(err.Error(), "farpipe: ") || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Parse(%q): error %v; want a farpipe: error wrapping ErrBadAddress that says %q", tc.raw, err, tc.says)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error of more than one line: %q", tc.raw, err)
		}
	}
}

// FuzzParseAddr checks that no address makes the parser panic, that an
// accepted one yields a URL path that starts with '/', and that what it
// accepts it accepts again in its canonical form.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"example.com/farpipe/x", "[::1]:8080/p", ":0/p?cert=c&key=k", "h/p?ca=x", "h:1/", "[::1]", "::1:80/x", "a@b/c", "h/p?%zz"} {
		f.Add("ws", s)
		f.Add("wss", s)
	}
	f.Fuzz(func(t *testing.T, scheme, raw string) {
		if scheme != "ws" && scheme != "wss" {
			return
		}
		_, hostPort, path, ca, cert, key, err := ws.ParseAddr(scheme, raw)
		if err != nil {
			if !errors.Is(err, transport.ErrBadAddress) || !strings.HasPrefix(err.Error(), "farpipe: ") {
				t.Fatalf("%s://%s: error %v does not wrap ErrBadAddress under farpipe:", scheme, raw, err)
			}
			return
		}
		if !strings.HasPrefix(path, "/") {
			t.Fatalf("%s://%s: path %q", scheme, raw, path)
		}
		if _, hp2, path2, _, _, _, err := ws.ParseAddr(scheme, hostPort+path); err != nil || hp2 != hostPort || path2 != path {
			t.Fatalf("%s://%s: canonical %q parses as %q %q, %v", scheme, raw, hostPort+path, hp2, path2, err)
		}
		_, _, _ = ca, cert, key
	})
}
