package main

import (
	"os"
	"runtime"
	"strings"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/tcp"
	"github.com/farpipe/farpipe/transport/unix"
)

// oneThread runs the Go code of send and recv on one thread at a time
// (GOMAXPROCS=1) when their stream goes over TCP or a Unix socket, unless
// the user set GOMAXPROCS.
//
// Such a pipe end is two goroutines handing bytes to each other (standard
// input to the connection's writer, the connection's reader to standard
// output). A second P lets both run Go code at once, but then every
// hand-off to a parked goroutine also wakes a thread for the idle P, which
// mostly finds nothing to do and sleeps again, and that costs more than it
// gives: on the benchmark's 2-core machine one P cut the context switches
// per GiB by 30-45 % and the CPU per GiB by 7-9 % with --no-encrypt, 7-10 %
// with TLS and 16 % with --compress zstd, at the same or better throughput
// (docs/performance.md, "One P per pipe end"). With the copies made by raw
// calls (rawPipe, internal/rawio), two Ps cost 22 % more CPU than one on
// 1 GiB of zeros (1,581 against 1,299 ms). The cost: the Go code of an end
// (hashing, encryption, compression) runs on one core at a time; an end
// whose link outruns one core's worth of that work can be given
// GOMAXPROCS=2.
//
// The other transports (QUIC, WebSocket, gRPC, NATS, shared memory) run
// goroutines of their own, and the other commands move several streams:
// they keep the default.
func oneThread(addr string) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set || !byteStream(addr) {
		return
	}
	runtime.GOMAXPROCS(1)
}

// byteStream reports whether addr names a TCP or Unix socket address, where
// the session's own goroutines are the only ones moving bytes. A short
// code is resolved to a relay's address: not one.
func byteStream(addr string) bool {
	if isCode(addr) {
		return false
	}
	scheme := transport.DefaultScheme // HOST:PORT
	if s, _, found := strings.Cut(addr, "://"); found {
		scheme = strings.ToLower(s)
	}
	switch scheme {
	case tcp.Scheme, farpipe.Scheme, unix.Scheme:
		return true
	}
	return false
}
