package conntest

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// Conn is what every farpipe connection offers; *farpipe.Conn satisfies it.
type Conn interface {
	net.Conn
	// CloseWrite ends the writing direction: the peer reads io.EOF after
	// the last byte.
	CloseWrite() error
	// CloseRead ends the reading direction: the peer's writes fail with a
	// broken pipe (an error matching syscall.EPIPE).
	CloseRead() error
	// Drain waits until the peer's application has read every byte written
	// and, after CloseWrite, io.EOF.
	Drain(ctx context.Context) error
	// Abort ends both directions at once; the peer's operations fail with
	// an error that carries reason.
	Abort(reason string) error
}

// MakePipe returns two connected ends, c1 and c2, such that what one writes
// the other reads, and a stop function that releases everything (both ends,
// and any listener) and may be called while operations are blocked. It is
// called once per test case. It may use t for t.TempDir, t.Logf and
// t.Cleanup but must report failures through err, not t.Fatal: under
// nettest.TestConn it runs on the goroutine of a subtest of t.
type MakePipe func(t *testing.T) (c1, c2 Conn, stop func(), err error)

// Config adapts the suite to the connections under test. The zero value
// suits farpipe's defaults.
type Config struct {
	// Window is the most bytes a writer may have in flight (written but not
	// yet read by the peer's application). Backpressure fails if a writer
	// whose reader does not read gets more than 2*(Window+1 MiB) bytes
	// accepted. Zero means 8 MiB, farpipe's default window.
	Window int

	// LargeSize is the size of the largest Transfer. Zero means 32 MiB, or
	// 4 MiB with -short.
	LargeSize int

	// DuplexSize is how many bytes each side sends in Duplex. Zero means
	// 16 MiB, or 4 MiB with -short.
	DuplexSize int

	// Timeout bounds each test case: one still running after it fails and
	// has its pipe stopped. Zero means 20 seconds.
	Timeout time.Duration
}

func (c *Config) window() int {
	if c.Window > 0 {
		return c.Window
	}
	return 8 << 20
}

func (c *Config) largeSize() int {
	switch {
	case c.LargeSize > 0:
		return c.LargeSize
	case testing.Short():
		return 4 << 20
	}
	return 32 << 20
}

func (c *Config) duplexSize() int {
	switch {
	case c.DuplexSize > 0:
		return c.DuplexSize
	case testing.Short():
		return 4 << 20
	}
	return 16 << 20
}

func (c *Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 20 * time.Second
}

// Run runs the conformance suite with the default Config.
func Run(t *testing.T, mp MakePipe) {
	t.Helper()
	RunConfig(t, mp, Config{})
}

// RunConfig runs nettest.TestConn over pipes made by mp and then the
// farpipe subtests, each under a watchdog and with both assignments of
// roles; see the package documentation.
func RunConfig(t *testing.T, mp MakePipe, cfg Config) {
	t.Helper()
	s := &suite{mp: mp, cfg: cfg}
	t.Run("NetTest", func(t *testing.T) { nettest.TestConn(t, s.netPipe(t)) })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s) })
	}
}

// tests lists the farpipe subtests in the order Run runs them.
var tests = []struct {
	name string
	fn   func(t *testing.T, s *suite)
}{
	{"Transfer", testTransfer},
	{"Duplex", both(testDuplex)},
	{"Drain", both(testDrain)},
	{"EOFOnlyAfterCloseWrite", both(testEOFOnlyAfterCloseWrite)},
	{"ReadAfterEOF", both(testReadAfterEOF)},
	{"WriteAfterCloseWrite", both(testWriteAfterCloseWrite)},
	{"CloseTwice", both(testCloseTwice)},
	{"CloseDelivers", both(testCloseDelivers)},
	{"CloseUnblocks", both(testCloseUnblocks)},
	{"BrokenPipe", testBrokenPipe},
	{"Backpressure", both(testBackpressure)},
	{"Abort", both(testAbort)},
	{"Deadlines", testDeadlines},
	{"ConcurrentWrites", both(testConcurrentWrites)},
}

// suite is the state shared by the subtests of one Run.
type suite struct {
	mp  MakePipe
	cfg Config
}

// netPipe adapts mp to nettest.
func (s *suite) netPipe(t *testing.T) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		a, b, stop, err := s.mp(t)
		if err != nil {
			return nil, nil, nil, err
		}
		return a, b, stop, nil
	}
}

// both adapts a test body to the test table: the body runs twice, each time
// on a fresh pipe under the watchdog, with a (the acting side) = c1 and
// b = c2, then with the roles reversed.
func both(body func(e *env, a, b Conn)) func(t *testing.T, s *suite) {
	return func(t *testing.T, s *suite) { s.both(t, body) }
}

func (s *suite) both(t *testing.T, body func(e *env, a, b Conn)) {
	t.Helper()
	for _, rev := range []bool{false, true} {
		name := "c1_to_c2"
		if rev {
			name = "c2_to_c1"
		}
		t.Run(name, func(t *testing.T) {
			s.guard(t, func(e *env) {
				if rev {
					body(e, e.c2, e.c1)
				} else {
					body(e, e.c1, e.c2)
				}
			})
		})
	}
}
