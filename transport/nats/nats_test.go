package nats

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/farpipe/farpipe/transport/transporttest"
)

// startServer starts an embedded NATS server on a free loopback port for
// the duration of the test.
func startServer(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("the embedded NATS server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

var names atomic.Int64

// freshName returns a pipe name no other test uses.
func freshName() string { return fmt.Sprintf("t%d", names.Add(1)) }

func TestConformance(t *testing.T) {
	s := startServer(t)
	hostport := s.Addr().String()
	transporttest.Run(t, transporttest.Harness{
		Scheme:     "nats",
		ListenAddr: func(*testing.T) string { return hostport + "/" + freshName() },
		LargeSize:  32 << 20,
	})
}
