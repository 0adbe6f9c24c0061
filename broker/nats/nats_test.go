package nats_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/broker/brokertest"
	_ "github.com/farpipe/farpipe/broker/nats"
	"github.com/farpipe/farpipe/relay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startRelay starts an in-process relay on loopback, stopped when the test
// ends.
func startRelay(t testing.TB) *relay.Server {
	t.Helper()
	r, err := relay.Start(context.Background(), relay.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}

var streams atomic.Int64

func TestConformance(t *testing.T) {
	r := startRelay(t)
	brokertest.RunConformanceTests(t, brokertest.Harness{
		Full: true,
		Open: func(t *testing.T, cfg broker.StreamConfig) broker.Stream {
			s, err := broker.Open(context.Background(), fmt.Sprintf("%s/s%d", r.ClientURL(), streams.Add(1)), cfg)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
