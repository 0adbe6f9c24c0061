package ws_test

import (
	"testing"

	"github.com/farpipe/farpipe/transport/transporttest"
)

// BenchmarkThroughput moves 1 MiB writes one way over loopback, the
// reader discarding, over ws in both directions (a dialer masks what it
// sends, as WebSocket clients must) and over tcp for comparison.
func BenchmarkThroughput(b *testing.B) {
	for _, bc := range []struct {
		name, addr     string
		listenerWrites bool
	}{
		{"ws/DialerWrites", "ws://127.0.0.1:0/bench", false},
		{"ws/ListenerWrites", "ws://127.0.0.1:0/bench", true},
		{"tcp", "tcp://127.0.0.1:0", false},
	} {
		b.Run(bc.name, func(b *testing.B) { transporttest.Throughput(b, bc.addr, 1<<20, bc.listenerWrites) })
	}
}
