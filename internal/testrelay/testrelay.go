// Package testrelay starts NATS servers in-process for tests: the relay that
// the nats transport's pipes go through.
package testrelay

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Relay is a NATS server run in-process on loopback.
type Relay struct {
	t    testing.TB
	opts server.Options
	srv  *server.Server
}

// Start starts a relay on a free port of 127.0.0.1; it shuts down when the
// test ends.
func Start(t testing.TB) *Relay {
	t.Helper()
	return StartWith(t, nil)
}

// StartWithToken starts a relay that requires token of its clients
// (nats://TOKEN@HOST:PORT/NAME).
func StartWithToken(t testing.TB, token string) *Relay {
	t.Helper()
	return StartWith(t, func(o *server.Options) { o.Authorization = token })
}

// StartWith starts a relay as Start does, with its options changed by set
// (max_payload, say) if set is not nil.
func StartWith(t testing.TB, set func(*server.Options)) *Relay {
	t.Helper()
	r := &Relay{t: t, opts: server.Options{Host: "127.0.0.1", Port: freePort(t), NoLog: true, NoSigs: true}}
	if set != nil {
		set(&r.opts)
	}
	r.start()
	t.Cleanup(r.Stop)
	return r
}

// HostPort is the relay's address, HOST:PORT.
func (r *Relay) HostPort() string { return net.JoinHostPort(r.opts.Host, strconv.Itoa(r.opts.Port)) }

// URL is "nats://HOST:PORT/" + name: a pipe address on this relay.
func (r *Relay) URL(name string) string { return "nats://" + r.HostPort() + "/" + name }

func (r *Relay) start() {
	r.t.Helper()
	opts := r.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		r.t.Fatalf("testrelay: %v", err)
	}
	srv.Start()
	// A readiness wait, not a timing check: the root package's parallel
	// conformance runs and the other packages' tests, all built with -race,
	// share two CPUs while it starts (10 s was once too little there).
	if !srv.ReadyForConnections(60 * time.Second) {
		srv.Shutdown()
		r.t.Fatal("testrelay: the NATS server did not start within 60 s")
	}
	r.srv = srv
}

// Stop shuts the relay down; every client connection drops.
func (r *Relay) Stop() {
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv.WaitForShutdown()
		r.srv = nil
	}
}

// Restart stops the relay, waits for down, and starts it again on the same
// port.
func (r *Relay) Restart(down time.Duration) {
	r.t.Helper()
	r.Stop()
	time.Sleep(down)
	r.start()
}

// Clients is the number of clients connected to the relay.
func (r *Relay) Clients() int { return r.srv.NumClients() }

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testrelay: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// String names the relay in test logs.
func (r *Relay) String() string { return fmt.Sprintf("relay %s", r.HostPort()) }
