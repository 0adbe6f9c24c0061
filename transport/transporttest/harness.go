package transporttest

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/farpipe/farpipe/transport"
)

// Harness describes the transport under test.
type Harness struct {
	// Scheme is the registered scheme of the transport under test.
	Scheme string

	// ListenAddr returns a fresh address to listen on, without the
	// "scheme://" prefix, for example "127.0.0.1:0" for tcp or a path in
	// t.TempDir() for a Unix socket. It is called once per listener.
	ListenAddr func(t *testing.T) string

	// DialAddr returns the address, without the "scheme://" prefix, at which
	// ln can be dialled. Nil means ln.Addr().String().
	DialAddr func(ln net.Listener) string

	// Timeout bounds each subtest; a subtest still running after it fails
	// and has its connections and listeners closed. Zero means 30 seconds.
	Timeout time.Duration

	// LargeSize is the number of bytes LargeTransfer sends in each
	// direction. Zero means 64 MiB, or 8 MiB with -short.
	LargeSize int64
}

// test is one named conformance test.
type test struct {
	name string
	fn   func(t *testing.T, s *suite)
}

// tests lists the conformance tests in the order Run runs them.
var tests = []test{
	{"Addrs", guarded(testAddrs)},
	{"BytesBothWays", testBytesBothWays},
	{"CloseGivesEOF", testCloseGivesEOF},
	{"CloseUnblocksRead", testCloseUnblocksRead},
	{"CloseWrite", testCloseWrite},
	{"LargeTransfer", guarded(testLargeTransfer)},
	{"ManyConns", guarded(testManyConns)},
	{"ListenerCloseUnblocksAccept", guarded(testListenerCloseUnblocksAccept)},
	{"ListenAddrInUse", guarded(testListenAddrInUse)},
	{"DialCancelled", testDialCancelled},
	{"DialNoListener", guarded(testDialNoListener)},
	{"Registry", guarded(testRegistry)},
	{"NetTest", testNetTest},
}

// Run runs the conformance suite against the transport registered under
// h.Scheme. Every subtest is guarded by a watchdog and checked for leaked
// goroutines; see the package documentation.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.ListenAddr == nil {
		t.Fatal("transporttest: Harness.ListenAddr is nil")
	}
	tr, ok := transport.Lookup(h.Scheme)
	if !ok {
		t.Fatalf("transporttest: no transport registered for scheme %q (registered: %v); import the transport's package", h.Scheme, transport.Schemes())
	}
	s := &suite{h: h, tr: tr}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s) })
	}
}

// suite is the state shared by the subtests of one Run.
type suite struct {
	h  Harness
	tr transport.Transport
}

func (s *suite) timeout() time.Duration {
	if s.h.Timeout > 0 {
		return s.h.Timeout
	}
	return 30 * time.Second
}

func (s *suite) largeSize() int64 {
	switch {
	case s.h.LargeSize > 0:
		return s.h.LargeSize
	case testing.Short():
		return 8 << 20
	}
	return 64 << 20
}

// guarded adapts a test body to the test table, running it under guard.
func guarded(fn func(t *testing.T, e *env)) func(t *testing.T, s *suite) {
	return func(t *testing.T, s *suite) { s.guard(t, fn) }
}

// guard runs fn with a fresh env under a watchdog (nettest's timeoutWrapper
// pattern): if fn is still running after the timeout, the test fails and
// every connection and listener of the env is closed, which unblocks fn.
// When fn returns, everything is closed and goleak checks that no goroutine
// started since guard was called is left.
func (s *suite) guard(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	e := &env{s: s}
	var once sync.Once
	d := s.timeout()
	timer := time.AfterFunc(d, func() {
		once.Do(func() {
			t.Errorf("transporttest: still running after %v (deadlock?); closing its connections", d)
			e.stop()
		})
	})
	defer func() {
		timer.Stop()
		once.Do(func() {}) // wait for a watchdog that already fired
		e.stop()
		goleak.VerifyNone(t, ignore)
	}()
	fn(t, e)
}

// env tracks the connections and listeners of one guarded test so that the
// watchdog and the end of the test can close them.
type env struct {
	s       *suite
	mu      sync.Mutex
	closers []io.Closer
	stopped bool
}

// track registers c to be closed when the test ends or times out. If the
// env is already stopped, c is closed at once.
func (e *env) track(c io.Closer) {
	e.mu.Lock()
	stopped := e.stopped
	if !stopped {
		e.closers = append(e.closers, c)
	}
	e.mu.Unlock()
	if stopped {
		c.Close()
	}
}

// stop closes everything tracked. It may be called more than once.
func (e *env) stop() {
	e.mu.Lock()
	cs := e.closers
	e.closers, e.stopped = nil, true
	e.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// isStopped reports whether stop was called, by the watchdog or at the end.
func (e *env) isStopped() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopped
}

// listen opens a tracked listener on a fresh address.
func (e *env) listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := e.s.tr.Listen(context.Background(), e.s.h.ListenAddr(t))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	e.track(ln)
	return ln
}

// addr returns the address at which ln can be dialled.
func (e *env) addr(ln net.Listener) string {
	if e.s.h.DialAddr != nil {
		return e.s.h.DialAddr(ln)
	}
	return ln.Addr().String()
}

// dial dials addr and tracks the connection.
func (e *env) dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := e.s.tr.Dial(ctx, addr)
	if c != nil {
		e.track(c)
	}
	return c, err
}

// connect dials ln and accepts the connection, returning the dialer's and
// the listener's end, both tracked. The error is that of Dial or Accept,
// unchanged.
func (e *env) connect(ln net.Listener) (d, a net.Conn, err error) {
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if c != nil {
			e.track(c)
		}
		accepted <- result{c, err}
	}()
	d, err = e.dial(context.Background(), e.addr(ln))
	if err != nil {
		ln.Close() // unblock Accept
		<-accepted
		return nil, nil, err
	}
	r := <-accepted
	if r.err != nil {
		return nil, nil, r.err
	}
	return d, r.c, nil
}

// pair opens a listener and returns a connected pair: the dialer's end and
// the accepted end.
func (e *env) pair(t *testing.T) (d, a net.Conn) {
	t.Helper()
	d, a, err := e.connect(e.listen(t))
	if err != nil {
		t.Fatalf("connecting a pair: %v", err)
	}
	return d, a
}
