// Package transporttest is the conformance suite every farpipe transport
// must pass. A transport that passes it works: nothing above the transport
// layer may rely on anything this suite does not check.
//
// Like golang.org/x/net/nettest, the suite lives in a non-test file so any
// transport's tests can run it:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, transporttest.Harness{
//			Scheme:     "tcp",
//			ListenAddr: func(*testing.T) string { return "127.0.0.1:0" },
//		})
//	}
//
// [Run] looks the transport up by scheme in the registry and runs named
// subtests against it, with the roles of the dialing and the listening side
// reversed where that matters (-run 'Conformance/BytesBothWays' selects one).
// It checks bytes both ways, a large transfer compared by SHA-256 in both
// directions at once, EOF after Close, Close unblocking Read and Accept,
// CloseWrite when the connection has it, prompt failure of dials with a
// cancelled context or to an address nobody listens on, many concurrent
// connections on one listener, non-nil addresses, error messages starting
// with "farpipe: ", the registry path (transport.Dial and transport.Listen)
// and golang.org/x/net/nettest.TestConn on a dialed and an accepted
// connection.
//
// Each subtest runs under a watchdog: if it is still running after
// [Harness.Timeout], it fails and every connection and listener it opened is
// closed, so a deadlock becomes a failure instead of a hung test. After each
// subtest go.uber.org/goleak checks that no goroutine it started is left.
// Because of that check, do not call Run from tests that run in parallel
// with others in the same package.
//
// Tests use the addresses the harness gives; use loopback only
// (127.0.0.1, [::1], a temporary directory for sockets).
package transporttest
