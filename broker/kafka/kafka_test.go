package kafka_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/broker/brokertest"
	_ "github.com/farpipe/farpipe/broker/kafka"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startKafka starts an in-process Kafka cluster on loopback (kfake), closed
// when the test ends, and returns its brokers' addresses.
func startKafka(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, strings.Join(c.ListenAddrs(), ",")
}

var topics atomic.Int64

func TestConformance(t *testing.T) {
	_, brokers := startKafka(t)
	brokertest.RunConformanceTests(t, brokertest.Harness{
		Open: func(t *testing.T, cfg broker.StreamConfig) broker.Stream {
			s, err := broker.Open(context.Background(), fmt.Sprintf("kafka://%s/t%d", brokers, topics.Add(1)), cfg)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
