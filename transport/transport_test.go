package transport_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/farpipe/farpipe/transport"
	_ "github.com/farpipe/farpipe/transport/tcp"
)

// fake is a transport without address validation: Parse hands it any
// non-empty address unchanged.
type fake struct{}

func (fake) Dial(context.Context, string) (net.Conn, error) {
	return nil, errors.New("farpipe: fake transport cannot dial")
}

func (fake) Listen(context.Context, string) (net.Listener, error) {
	return nil, errors.New("farpipe: fake transport cannot listen")
}

func init() {
	transport.Register("fake", fake{})
}

func TestParse(t *testing.T) {
	tests := []struct {
		raw, scheme, addr string
	}{
		{"tcp://127.0.0.1:7000", "tcp", "127.0.0.1:7000"},
		{"127.0.0.1:7000", "tcp", "127.0.0.1:7000"},
		{":7000", "tcp", ":7000"},
		{"[::1]:7000", "tcp", "[::1]:7000"},
		{"tcp://[::1]:7000", "tcp", "[::1]:7000"},
		{"localhost:7000", "tcp", "localhost:7000"},
		{"TCP://localhost:7000", "tcp", "localhost:7000"},
		{"tcp://[fe80::1%lo]:0", "tcp", "[fe80::1%lo]:0"},
		{"example.com:65535", "tcp", "example.com:65535"},
		{"fake:///tmp/a socket", "fake", "/tmp/a socket"},
		{"fake://x://y", "fake", "x://y"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			scheme, addr, err := transport.Parse(tc.raw)
			if err != nil || scheme != tc.scheme || addr != tc.addr {
				t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q, nil", tc.raw, scheme, addr, err, tc.scheme, tc.addr)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const ex = "write HOST:PORT, for example 127.0.0.1:7000"
	const v6 = `has no port, or an IPv6 address without brackets: write [IPV6]:PORT, for example [::1]:7000`
	tests := []struct {
		raw  string
		kind error
		msg  string
	}{
		{"foo://x", transport.ErrUnknownScheme, `farpipe: unknown transport "foo" in "foo://x" (known: fake, tcp)`},
		{"fp://host:7000/#tok", transport.ErrUnknownScheme, `farpipe: unknown transport "fp" in "fp://host:7000/#tok" (known: fake, tcp)`},
		{"://x", transport.ErrUnknownScheme, `farpipe: missing transport name before "://" in "://x" (known: fake, tcp)`},
		{"", transport.ErrBadAddress, "farpipe: empty address: " + ex},
		{"  ", transport.ErrBadAddress, "farpipe: empty address: " + ex},
		{"tcp://", transport.ErrBadAddress, "farpipe: empty address: " + ex},
		{"fake://", transport.ErrBadAddress, `farpipe: empty address in "fake://": write fake://ADDRESS`},
		{"127.0.0.1", transport.ErrBadAddress, `farpipe: address "127.0.0.1" has no port: ` + ex},
		{"tcp://127.0.0.1", transport.ErrBadAddress, `farpipe: address "127.0.0.1" has no port: ` + ex},
		{"localhost", transport.ErrBadAddress, `farpipe: address "localhost" has no port: write HOST:PORT, for example localhost:7000`},
		{"127.0.0.1:", transport.ErrBadAddress, `farpipe: address "127.0.0.1:" has no port: ` + ex},
		{":", transport.ErrBadAddress, `farpipe: address ":" has no port: ` + ex},
		{"[::1]:", transport.ErrBadAddress, `farpipe: address "[::1]:" has no port: write HOST:PORT, for example [::1]:7000`},
		{"::1", transport.ErrBadAddress, `farpipe: address "::1" ` + v6},
		{"[::1]", transport.ErrBadAddress, `farpipe: address "[::1]" ` + v6},
		{"::1:7000", transport.ErrBadAddress, `farpipe: address "::1:7000" ` + v6},
		{"[::1:7000", transport.ErrBadAddress, `farpipe: address "[::1:7000" is not HOST:PORT: write for example 127.0.0.1:7000, or [::1]:7000 for IPv6`},
		{"127.0.0.1:70000", transport.ErrBadAddress, `farpipe: port "70000" in address "127.0.0.1:70000" is not a number from 0 to 65535`},
		{"127.0.0.1:http", transport.ErrBadAddress, `farpipe: port "http" in address "127.0.0.1:http" is not a number from 0 to 65535`},
		{"tcp://127.0.0.1:7000/", transport.ErrBadAddress, `farpipe: port "7000/" in address "127.0.0.1:7000/" is not a number from 0 to 65535`},
		{"host name:7000", transport.ErrBadAddress, `farpipe: address "host name:7000" contains a space or control character: ` + ex},
		{"a/b:7000", transport.ErrBadAddress, `farpipe: host "a/b" in address "a/b:7000" is not a host name or IP address (put IPv6 addresses in brackets, for example [::1]:7000)`},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			scheme, addr, err := transport.Parse(tc.raw)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, %q, nil; want error %q", tc.raw, scheme, addr, tc.msg)
			}
			if err.Error() != tc.msg {
				t.Errorf("Parse(%q) error\n got %s\nwant %s", tc.raw, err, tc.msg)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("Parse(%q) error %q: errors.Is(err, %v) is false", tc.raw, err, tc.kind)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Parse(%q) error is not one line: %q", tc.raw, err)
			}
		})
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct{ addr, host, port string }{
		{"127.0.0.1:7000", "127.0.0.1", "7000"},
		{":0", "", "0"},
		{"[::1]:7000", "::1", "7000"},
		{"[fe80::1%eth0]:1", "fe80::1%eth0", "1"},
		{"my-host_1.example.com:22", "my-host_1.example.com", "22"},
	}
	for _, tc := range tests {
		host, port, err := transport.SplitHostPort(tc.addr)
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("SplitHostPort(%q) = %q, %q, %v; want %q, %q, nil", tc.addr, host, port, err, tc.host, tc.port)
		}
	}
}

func TestDialListenRejectBeforeNetwork(t *testing.T) {
	ctx := context.Background()
	if _, err := transport.Dial(ctx, "foo://x"); !errors.Is(err, transport.ErrUnknownScheme) {
		t.Errorf("Dial(foo://x) error %v; want ErrUnknownScheme", err)
	}
	if _, err := transport.Listen(ctx, "127.0.0.1"); !errors.Is(err, transport.ErrBadAddress) {
		t.Errorf("Listen(127.0.0.1) error %v; want ErrBadAddress", err)
	}
	tr, _ := transport.Lookup("tcp")
	if _, err := tr.Dial(ctx, "127.0.0.1"); !errors.Is(err, transport.ErrBadAddress) {
		t.Errorf("tcp Dial(127.0.0.1) error %v; want ErrBadAddress", err)
	}
	if _, err := transport.Dial(ctx, "fake://x"); err == nil || err.Error() != "farpipe: fake transport cannot dial" {
		t.Errorf("Dial(fake://x) error %v; want the fake transport's", err)
	}
}

func TestLookupSchemes(t *testing.T) {
	if tr, ok := transport.Lookup("tcp"); !ok || tr == nil {
		t.Error(`Lookup("tcp") found nothing; transport/tcp registers it in init`)
	}
	if _, ok := transport.Lookup("nope"); ok {
		t.Error(`Lookup("nope") found a transport`)
	}
	got := transport.Schemes()
	if !slices.IsSorted(got) || !slices.Contains(got, "tcp") || !slices.Contains(got, "fake") {
		t.Errorf("Schemes() = %v; want sorted, with fake and tcp", got)
	}
}

func TestRegisterPanics(t *testing.T) {
	tests := []struct {
		name, scheme string
		tr           transport.Transport
		msg          string
	}{
		{"Empty", "", fake{}, `farpipe: transport.Register: invalid scheme ""`},
		{"UpperCase", "Tcp2", fake{}, `farpipe: transport.Register: invalid scheme "Tcp2"`},
		{"LeadingDigit", "9p", fake{}, `farpipe: transport.Register: invalid scheme "9p"`},
		{"Colon", "a:b", fake{}, `farpipe: transport.Register: invalid scheme "a:b"`},
		{"Nil", "nil-transport", nil, `farpipe: transport.Register: nil transport for scheme "nil-transport"`},
		{"Duplicate", "tcp", fake{}, `farpipe: transport.Register called twice for scheme "tcp"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.HasPrefix(msg, tc.msg) {
					t.Errorf("Register(%q) panicked with %v; want a message starting %q", tc.scheme, r, tc.msg)
				}
			}()
			transport.Register(tc.scheme, tc.tr)
		})
	}
	if _, ok := transport.Lookup("nil-transport"); ok {
		t.Error("a rejected Register left its scheme registered")
	}
}
