package grpc_test

import (
	"testing"

	_ "github.com/farpipe/farpipe/transport/tcp"
	"github.com/farpipe/farpipe/transport/transporttest"
)

// BenchmarkThroughput measures one stream, one goroutine writing 16 KiB
// buffers (the size of the TLS records the session writes) and another
// reading and discarding them, over grpc and, in the same run for
// comparison, over TCP loopback. It counts until the reader has read the
// last byte.
func BenchmarkThroughput(b *testing.B) {
	for _, bc := range []struct{ name, addr string }{
		{"grpc", "grpc://127.0.0.1:0"},
		{"tcp", "tcp://127.0.0.1:0"},
	} {
		b.Run(bc.name, func(b *testing.B) { transporttest.Throughput(b, bc.addr, 16<<10, false) })
	}
}
