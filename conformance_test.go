package farpipe_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/conntest"
	"github.com/farpipe/farpipe/internal/testpki"
	"github.com/farpipe/farpipe/internal/testrelay"
)

var _ conntest.Conn = (*farpipe.Conn)(nil)

// TestConformance runs the Conn conformance suite over tcp on 127.0.0.1
// and [::1], once with the dialing side as c1 and once with the listening
// side as c1. The four runs are parallel: much of the suite's time is spent
// waiting for deadlines, and each run uses its own connections.
//
// Every case of the suite already runs in both directions, so the runs
// with the roles of c1 and c2 reversed, and those over IPv6 (which changes
// nothing above the socket), would move the same large transfers the same
// ways again: they use 4 MiB ones, which keeps the test quick. The large
// ones are 16 MiB (two windows) and 8 MiB each way at once: the size is
// not the point beyond filling and wrapping the window.
func TestConformance(t *testing.T) {
	small := conntest.Config{LargeSize: 4 << 20, DuplexSize: 4 << 20}
	for _, fam := range []struct {
		name, network, addr string
		full                conntest.Config // of the DialerIsC1 run
	}{
		{"IPv4", "tcp4", "127.0.0.1:0", conntest.Config{LargeSize: 16 << 20, DuplexSize: 8 << 20}},
		{"IPv6", "tcp6", "[::1]:0", small},
		{"Unix", "unix", "unix://", small},
		{"SharedMemory", "shm", "shm://", small},
		{"Relay", "nats", "nats://", small},
		{"WebSocket", "ws", "ws://127.0.0.1:0/farpipe/conformance", small},
		{"SecureWebSocket", "wss", "wss://127.0.0.1:0/farpipe/conformance", small},
		{"GRPC", "tcp4", "grpc://127.0.0.1:0", small}, // loopback checked over tcp4
		{"QUIC", "tcp4", "quic://127.0.0.1:0", small}, // loopback checked over tcp4
	} {
		t.Run(fam.name, func(t *testing.T) {
			t.Parallel()
			dialQuery := ""
			switch fam.network {
			case "nats":
				fam.addr = testrelay.Start(t).URL("")
			case "ws": // over 127.0.0.1, as IPv4
			case "wss": // with a certificate its dialer trusts
				pki := testpki.New(t)
				fam.addr += "?cert=" + pki.ServerCert + "&key=" + pki.ServerKey
				dialQuery = "?ca=" + pki.CAFile
			case "unix", "shm":
				if runtime.GOOS != "linux" {
					t.Skip("skipping: local transports are tested on Linux")
				}
			default:
				if err := loopbackUsable(fam.network, fam.addr); err != nil {
					t.Skipf("skipping: cannot listen on %s loopback %s here: %v", fam.network, fam.addr, err)
				}
			}
			for _, run := range []struct {
				name        string
				dialerFirst bool
				cfg         conntest.Config
			}{
				{"DialerIsC1", true, fam.full},
				{"ListenerIsC1", false, small},
			} {
				t.Run(run.name, func(t *testing.T) {
					t.Parallel()
					conntest.RunConfig(t, conformancePipe(fam.addr, dialQuery, run.dialerFirst), run.cfg)
				})
			}
		})
	}
}

// loopbackUsable reports why addr cannot be listened on and dialed, or nil.
// A "scheme://" prefix is ignored.
func loopbackUsable(network, addr string) error {
	if _, hostport, ok := strings.Cut(addr, "://"); ok {
		addr = hostport
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	c, err := net.DialTimeout(network, ln.Addr().String(), 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

var pipeSeq atomic.Int64

// conformancePipe returns a conntest.MakePipe that connects a farpipe
// dialer and listener over tcp at addr; dialerFirst says which is c1.
// dialQuery is added to the transport address the dialer dials.
func conformancePipe(addr, dialQuery string, dialerFirst bool) conntest.MakePipe {
	return func(t *testing.T) (c1, c2 conntest.Conn, stop func(), err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		listenAddr, dir := addr, ""
		if addr == "shm://" { // a fresh name for every pipe
			listenAddr = fmt.Sprintf("shm://farpipe-conformance-%d-%d", os.Getpid(), pipeSeq.Add(1))
		}
		if strings.HasPrefix(addr, "nats://") { // a fresh name for every pipe
			listenAddr = fmt.Sprintf("%sconformance-%d", addr, pipeSeq.Add(1))
		}
		if addr == "unix://" { // a fresh socket for every pipe
			if dir, err = os.MkdirTemp("", "fpct"); err != nil {
				return nil, nil, nil, err
			}
			listenAddr = "unix://" + filepath.Join(dir, "s")
		}
		ln, err := farpipe.Listen(ctx, listenAddr)
		if err != nil {
			return nil, nil, nil, err
		}
		dialAddr := ln.URL()
		if addr == "unix://" || addr == "shm://" {
			dialAddr = listenAddr
		}
		if dialQuery != "" { // before the "#TOKEN"
			i := strings.LastIndexByte(dialAddr, '#')
			dialAddr = dialAddr[:i] + dialQuery + dialAddr[i:]
		}
		type accepted struct {
			c   *farpipe.Conn
			err error
		}
		ch := make(chan accepted, 1)
		go func() {
			c, err := ln.Accept(ctx)
			ch <- accepted{c, err}
		}()
		d, err := farpipe.Dial(ctx, dialAddr, farpipe.WithToken(ln.Token()))
		if err != nil {
			ln.Close() // unblocks Accept
			<-ch
			return nil, nil, nil, fmt.Errorf("dial: %w", err)
		}
		a := <-ch
		if a.err != nil {
			d.Abort("conntest: accept failed")
			ln.Close()
			return nil, nil, nil, fmt.Errorf("accept: %w", a.err)
		}
		// The listener stays open while the pipe runs: it is what a
		// dropped connection would resume through.
		stop = func() {
			abortBoth(d, a.c)
			ln.Close()
			if dir != "" {
				os.RemoveAll(dir)
			}
		}
		if dialerFirst {
			return d, a.c, stop, nil
		}
		return a.c, d, stop, nil
	}
}

// abortBoth aborts c1, gives its ABORT a moment to reach c2 and then aborts
// c2, which then has nothing left to do. (Aborting a Conn whose peer's
// ABORT arrives at the same moment makes Abort wait its full second.)
func abortBoth(c1, c2 *farpipe.Conn) {
	c1.Abort("conntest: test over")
	select {
	case <-c2.Done():
	case <-time.After(200 * time.Millisecond):
	}
	c2.Abort("conntest: test over")
}
