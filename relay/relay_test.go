package relay

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests, except two of
// nats-server's own that, about once in 30 runs of the whole package, a
// JetStream store (of a stream or of a cluster's meta log) created while its
// server shut down leaves behind: the store's state flusher and the access
// time ticker it registered. Neither is started by this package.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"))
}

// startRelay starts a relay on loopback with cfg (a free port and a
// temporary store unless cfg says otherwise); it is stopped when the test
// ends.
func startRelay(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, s) })
	return s
}

func stop(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Error(err)
	}
}

func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// exchange sends one message from pub to sub (both connected) and fails if
// it does not arrive.
func exchange(t *testing.T, sub, pub *nats.Conn, subject string) {
	t.Helper()
	s, err := sub.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Unsubscribe()
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(subject, []byte("hello "+subject)); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	m, err := s.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no message on %s: %v", subject, err)
	}
	if string(m.Data) != "hello "+subject {
		t.Fatalf("got %q on %s", m.Data, subject)
	}
}

func TestStartStop(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"loopback", Config{}},
		{"localhost", Config{Listen: "localhost:0"}},
		{"limits", Config{MaxPayload: 64 << 10, MaxConnections: 10, MaxStore: 1 << 30, MaxMemory: 64 << 20}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startRelay(t, tt.cfg)
			if !strings.HasPrefix(s.ClientURL(), "nats://") || strings.HasSuffix(s.ClientURL(), ":0") {
				t.Fatalf("ClientURL %q is not a loopback URL with the actual port", s.ClientURL())
			}
			if !strings.HasPrefix(s.ReadyLine(), "farpipe: relay ready: use nats://") {
				t.Errorf("ReadyLine %q", s.ReadyLine())
			}
			nc := connect(t, s.ClientURL())
			exchange(t, nc, nc, "start.stop")
			if tt.cfg.MaxPayload != 0 && nc.MaxPayload() != int64(tt.cfg.MaxPayload) {
				t.Errorf("max payload %d, want %d", nc.MaxPayload(), tt.cfg.MaxPayload)
			}
			stop(t, s)
			select {
			case <-s.Done():
			default:
				t.Fatal("Done is not closed after Shutdown")
			}
			if _, err := net.Dial("tcp", strings.TrimPrefix(s.ClientURL(), "nats://")); err == nil {
				t.Fatal("the relay still accepts connections after Shutdown")
			}
		})
	}
}

func TestJetStreamStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "made", "by", "start")
	s := startRelay(t, Config{StoreDir: dir})
	if !s.NATS().JetStreamEnabled() {
		t.Fatal("JetStream is not enabled")
	}
	nc := connect(t, s.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RELAYTEST", Subjects: []string{"relaytest.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "relaytest.a", []byte("stored")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream", "$G", "streams", "RELAYTEST")); err != nil {
		t.Fatalf("the stream is not in the store given: %v", err)
	}
}

func TestAuth(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   Config
		right nats.Option
		wrong []nats.Option
	}{
		{"token", Config{Token: "s3cret-token"}, nats.Token("s3cret-token"),
			[]nats.Option{nats.Token("wrong"), nil}},
		{"user and password", Config{User: "alice", Password: "pa55"}, nats.UserInfo("alice", "pa55"),
			[]nats.Option{nats.UserInfo("alice", "wrong"), nats.UserInfo("bob", "pa55"), nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startRelay(t, tt.cfg)
			for _, w := range tt.wrong {
				var opts []nats.Option
				if w != nil {
					opts = append(opts, w)
				}
				nc, err := nats.Connect(s.ClientURL(), opts...)
				if err == nil {
					nc.Close()
					t.Fatal("a client with wrong or no credentials was let in")
				}
				if !errors.Is(err, nats.ErrAuthorization) {
					t.Errorf("refused with %v, want an authorization error", err)
				}
			}
			nc := connect(t, s.ClientURL(), tt.right)
			exchange(t, nc, nc, "auth")
		})
	}
}

func TestWebSocket(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		opt  nats.Option
	}{
		{"open", Config{WebSocket: "127.0.0.1:0"}, nil},
		{"token", Config{WebSocket: "127.0.0.1:0", Token: "ws-token"}, nats.Token("ws-token")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startRelay(t, tt.cfg)
			if !strings.HasPrefix(s.WebSocketURL(), "ws://127.0.0.1:") || strings.HasSuffix(s.WebSocketURL(), ":0") {
				t.Fatalf("WebSocketURL %q", s.WebSocketURL())
			}
			var opts []nats.Option
			if tt.opt != nil {
				opts = append(opts, tt.opt)
				if nc, err := nats.Connect(s.WebSocketURL()); err == nil {
					nc.Close()
					t.Fatal("a WebSocket client without the token was let in")
				}
			}
			ws := connect(t, s.WebSocketURL(), opts...)
			plain := connect(t, s.ClientURL(), opts...)
			exchange(t, ws, plain, "ws.in")
			exchange(t, plain, ws, "ws.out")
		})
	}
}

func TestBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"listen not host:port", Config{Listen: "4222"}},
		{"listen port not a number", Config{Listen: "127.0.0.1:http"}},
		{"listen port too big", Config{Listen: "127.0.0.1:70000"}},
		{"token and user", Config{Token: "t", User: "u", Password: "p"}},
		{"user without password", Config{User: "u"}},
		{"password without user", Config{Password: "p"}},
		{"routes without cluster", Config{Routes: []string{"nats://127.0.0.1:6222"}}},
		{"route of another scheme", Config{Cluster: "127.0.0.1:0", Routes: []string{"http://127.0.0.1:6222"}}},
		{"route without port", Config{Cluster: "127.0.0.1:0", Routes: []string{"nats://127.0.0.1"}}},
		{"route with a path", Config{Cluster: "127.0.0.1:0", Routes: []string{"nats://127.0.0.1:6222/x"}}},
		{"route port 0", Config{Cluster: "127.0.0.1:0", Routes: []string{"127.0.0.1:0"}}},
		{"cluster name with a space", Config{Cluster: "127.0.0.1:0", ClusterName: "a b"}},
		{"websocket key without cert", Config{WebSocket: "127.0.0.1:0", WebSocketTLSKey: "k.pem"}},
		{"websocket cert without websocket", Config{WebSocketTLSCert: "c.pem", WebSocketTLSKey: "k.pem"}},
		{"websocket cert missing", Config{WebSocket: "127.0.0.1:0", WebSocketTLSCert: "/nonexistent/c.pem", WebSocketTLSKey: "/nonexistent/k.pem"}},
		{"max payload too big", Config{MaxPayload: MaxPayloadLimit + 1}},
		{"negative max connections", Config{MaxConnections: -1}},
		{"negative max store", Config{MaxStore: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Listen == "" {
				tt.cfg.Listen = "127.0.0.1:0"
			}
			tt.cfg.StoreDir = t.TempDir()
			s, err := Start(context.Background(), tt.cfg)
			if err == nil {
				stop(t, s)
				t.Fatal("Start accepted a bad configuration")
			}
			checkOneLine(t, err)
			if !errors.Is(err, ErrBadConfig) {
				t.Errorf("%v does not match ErrBadConfig", err)
			}
		})
	}
}

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); !strings.HasPrefix(msg, "farpipe: ") || strings.Contains(msg, "\n") {
		t.Errorf("error is not one line starting farpipe: %q", msg)
	}
}

func TestStartFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	twice := free.Addr().String() // free when the relay starts: it takes it twice
	free.Close()
	for _, tt := range []struct {
		name string
		cfg  Config
		is   error
	}{
		// Each port is free before the server starts; the server fails
		// while it starts (its fatal error, turned into Start's).
		{"websocket on the client port", Config{Listen: twice, WebSocket: twice}, syscall.EADDRINUSE},
		{"port in use", Config{Listen: taken.Addr().String()}, syscall.EADDRINUSE},
		{"websocket port in use", Config{WebSocket: taken.Addr().String()}, syscall.EADDRINUSE},
		{"cluster port in use", Config{Cluster: taken.Addr().String()}, syscall.EADDRINUSE},
		{"store is a file", Config{StoreDir: file}, syscall.ENOTDIR},
		{"store under a file", Config{StoreDir: filepath.Join(file, "store")}, syscall.ENOTDIR},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Listen == "" {
				tt.cfg.Listen = "127.0.0.1:0"
			}
			if tt.cfg.StoreDir == "" {
				tt.cfg.StoreDir = t.TempDir()
			}
			s, err := Start(context.Background(), tt.cfg)
			if err == nil {
				stop(t, s)
				t.Fatal("Start succeeded")
			}
			checkOneLine(t, err)
			if !errors.Is(err, tt.is) {
				t.Errorf("%v does not match %v", err, tt.is)
			}
		})
	}
}

// TestStoreLock: two relays never run on one store; the second may once
// the first has stopped.
func TestStoreLock(t *testing.T) {
	dir := t.TempDir()
	first := startRelay(t, Config{StoreDir: dir})
	s, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", StoreDir: dir})
	if err == nil {
		stop(t, s)
		t.Fatal("a second relay started on the store of a running one")
	}
	checkOneLine(t, err)
	if !errors.Is(err, ErrStoreInUse) {
		t.Fatalf("%v does not match ErrStoreInUse", err)
	}
	stop(t, first)
	startRelay(t, Config{StoreDir: dir})
}

// TestInProcessClient: a client of this process may skip TCP (what pub,
// sub and worker can do with an embedded relay), with the same
// authentication. (A refused in-process client takes nats.go 10 s to give
// up, so refusals are tested over TCP only.)
func TestInProcessClient(t *testing.T) {
	s := startRelay(t, Config{Token: "in-process"})
	nc := connect(t, "", nats.InProcessServer(s.NATS()), nats.Token("in-process"))
	tcp := connect(t, s.ClientURL(), nats.Token("in-process"))
	exchange(t, nc, tcp, "in.process")
}
