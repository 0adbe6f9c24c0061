// Package conntest is the conformance suite for farpipe connections: every
// implementation of the pipe contract (a *farpipe.Conn over any transport, a
// wrapper around one, a session stream) runs it, and one that passes keeps
// the contract.
//
// Like golang.org/x/net/nettest, the suite lives in a non-test file so any
// package's tests can run it:
//
//	func TestConformance(t *testing.T) {
//		conntest.Run(t, func(t *testing.T) (c1, c2 conntest.Conn, stop func(), err error) {
//			// Return two connected ends; stop releases everything.
//		})
//	}
//
// [Run] first runs nettest.TestConn over the pipe (the net.Conn contract),
// then named subtests for the pipe contract: Transfer, Duplex, Drain,
// EOFOnlyAfterCloseWrite, ReadAfterEOF, WriteAfterCloseWrite, CloseTwice,
// CloseDelivers, CloseUnblocks, BrokenPipe, Backpressure, Abort, Deadlines
// and ConcurrentWrites. Each of those runs twice on a fresh pipe, once with
// c1 as the acting side (the writer, the side that aborts) and c2 as its
// peer ("c1_to_c2"), and once with the roles reversed ("c2_to_c1"), so
// -run 'Conformance/Transfer/32MiB/c2_to_c1' selects one case.
//
// Every case runs under a watchdog: if it is still running after
// [Config.Timeout], it fails and the pipe is stopped, which unblocks it. If
// it is still blocked a few seconds after that, the case fails with a dump
// of the goroutines and the suite moves on, so a deadlock is a failure and
// never a hung test. Waits for events the contract promises (a broken pipe
// within a second, an abort reaching the peer) have their own, shorter
// bounds and fail with a message that says what did not happen.
//
// A Conn that also has an Err() error method, as *farpipe.Conn does, must
// report through it why it ended: Abort checks that both sides give the
// abort's reason.
//
// The suite needs nothing but the two ends; it uses no network itself.
// Give it pipes over loopback only (127.0.0.1, [::1], a socket in
// t.TempDir()). With -short the largest transfers shrink from 32 MiB (and
// 16 MiB each way for Duplex) to 4 MiB.
package conntest
