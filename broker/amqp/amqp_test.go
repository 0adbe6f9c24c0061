package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/farpipe/farpipe/broker"
	fpamqp "github.com/farpipe/farpipe/broker/amqp"
	"github.com/farpipe/farpipe/broker/brokertest"
	"github.com/farpipe/farpipe/internal/testflags"
	"github.com/farpipe/farpipe/internal/testrabbit"
)

// The package's private broker, started by the first test that needs it
// (not by fuzzing workers).
var (
	rabbitOnce sync.Once
	rabbit     *testrabbit.Server
	rabbitErr  error
)

// needRabbit starts the broker if it is not running yet.
func needRabbit(t *testing.T) {
	t.Helper()
	if why := testrabbit.Skip(); why != "" {
		t.Skip(why)
	}
	rabbitOnce.Do(func() { rabbit, rabbitErr = testrabbit.Start() })
	if rabbitErr != nil {
		t.Fatal(rabbitErr)
	}
}

func TestMain(m *testing.M) {
	testflags.NoRaceExitSleep()
	code := m.Run()
	if rabbit != nil {
		rabbit.Stop()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var queues atomic.Int64

// newAddr is the address of a new queue.
func newAddr() string { return rabbit.URL(fmt.Sprintf("q%d", queues.Add(1))) }

func openStream(t *testing.T, addr string, cfg broker.StreamConfig) broker.Stream {
	t.Helper()
	s, err := broker.Open(context.Background(), addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	needRabbit(t)
	brokertest.RunConformanceTests(t, brokertest.Harness{
		Open: func(t *testing.T, cfg broker.StreamConfig) broker.Stream { return openStream(t, newAddr(), cfg) },
	})
}

func TestParseAddress(t *testing.T) {
	for _, tt := range []struct {
		addr, uri, queue string
		bad              bool
	}{
		{"amqp://h/q", "amqp://h/", "q", false},
		{"amqp://u:p@h:5673/q", "amqp://u:p@h:5673/", "q", false},
		{"amqp://h/vh/q", "amqp://h/vh", "q", false},
		{"amqps://h/%2Fprod/q-1", "amqps://h/%2Fprod", "q-1", false},
		{"AMQP://h/q?heartbeat=5", "amqp://h/?heartbeat=5", "q", false},
		{"amqp://h", "", "", true},
		{"amqp://h/", "", "", true},
		{"amqp://u:p/w@h", "", "", true},
		{"amqp://h/q.x", "", "", true},
	} {
		uri, q, err := fpamqp.ParseAddress(tt.addr)
		if tt.bad {
			if !errors.Is(err, broker.ErrBadAddress) {
				t.Errorf("%q: got %q %q %v, want ErrBadAddress", tt.addr, uri, q, err)
			}
			continue
		}
		if err != nil || uri != tt.uri || q != tt.queue {
			t.Errorf("%q: got %q %q %v, want %q %q", tt.addr, uri, q, err, tt.uri, tt.queue)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	needRabbit(t)
	ctx := context.Background()
	if _, err := broker.Open(ctx, newAddr(), broker.StreamConfig{Existing: true}); !errors.Is(err, broker.ErrNoStream) {
		t.Errorf("opening a stream that is not there returned %v, want ErrNoStream", err)
	}
	if _, err := broker.Open(ctx, newAddr(), broker.StreamConfig{MaxBytes: 1 << 20}); !errors.Is(err, broker.ErrBadAddress) {
		t.Errorf("a stream with MaxBytes returned %v, want a refusal", err)
	}
}
