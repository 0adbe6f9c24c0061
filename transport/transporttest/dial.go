package transporttest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/farpipe/farpipe/transport"
)

// prompt is how long a call that must fail at once may take.
const prompt = 5 * time.Second

// checkPrefix fails the test if err does not follow the farpipe convention.
func checkPrefix(t *testing.T, what string, err error) {
	t.Helper()
	if !strings.HasPrefix(err.Error(), "farpipe: ") {
		t.Errorf("%s error %q does not start with \"farpipe: \"", what, err)
	}
}

// testListenerCloseUnblocksAccept checks that Listener.Close makes a
// pending Accept return an error, and later Accepts fail at once.
func testListenerCloseUnblocksAccept(t *testing.T, e *env) {
	ln := e.listen(t)
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		accepted <- result{c, err}
	}()
	time.Sleep(20 * time.Millisecond) // let Accept block
	if err := ln.Close(); err != nil {
		t.Fatalf("Listener.Close: %v", err)
	}
	select {
	case r := <-accepted:
		if r.err == nil {
			r.c.Close()
			t.Fatal("Accept pending during Listener.Close returned a connection and no error")
		}
	case <-time.After(prompt):
		t.Fatalf("Accept still blocked %v after Listener.Close", prompt)
	}
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("Accept on a closed listener returned no error")
	}
}

// testListenAddrInUse checks that listening twice on one address fails.
func testListenAddrInUse(t *testing.T, e *env) {
	ln := e.listen(t)
	ln2, err := e.s.tr.Listen(context.Background(), e.addr(ln))
	if err == nil {
		ln2.Close()
		t.Fatalf("second Listen on %s (in use) succeeded", e.addr(ln))
	}
	checkPrefix(t, "Listen", err)
}

// testDialCancelled checks that Dial with a context that is already done
// fails promptly, even though a listener is there, with an error that
// satisfies errors.Is(err, ctx.Err()).
func testDialCancelled(t *testing.T, s *suite) {
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"Canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"DeadlineExceeded", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.guard(t, func(t *testing.T, e *env) {
				ln := e.listen(t)
				ctx, cancel := tc.ctx()
				defer cancel()
				start := time.Now()
				c, err := e.dial(ctx, e.addr(ln))
				if took := time.Since(start); took > prompt {
					t.Errorf("Dial with a done context took %v", took)
				}
				if err == nil {
					c.Close()
					t.Fatal("Dial with a done context succeeded")
				}
				if !errors.Is(err, tc.want) {
					t.Errorf("Dial error %q: errors.Is(err, %v) is false", err, tc.want)
				}
				checkPrefix(t, "Dial", err)
			})
		})
	}
}

// testDialNoListener checks that dialling an address nobody listens on
// fails promptly instead of hanging or retrying.
func testDialNoListener(t *testing.T, e *env) {
	ln := e.listen(t)
	addr := e.addr(ln)
	if err := ln.Close(); err != nil {
		t.Fatalf("Listener.Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*prompt)
	defer cancel()
	start := time.Now()
	c, err := e.dial(ctx, addr)
	if took := time.Since(start); took > prompt {
		t.Errorf("Dial to %s with no listener took %v", addr, took)
	}
	if err == nil {
		c.Close()
		t.Fatalf("Dial to %s with no listener succeeded", addr)
	}
	checkPrefix(t, "Dial", err)
}

// testRegistry goes through transport.Listen and transport.Dial with
// "scheme://addr" addresses, as the layers above do.
func testRegistry(t *testing.T, e *env) {
	ctx := context.Background()
	scheme := e.s.h.Scheme
	ln, err := transport.Listen(ctx, scheme+"://"+e.s.h.ListenAddr(t))
	if err != nil {
		t.Fatalf("transport.Listen: %v", err)
	}
	e.track(ln)
	raw := scheme + "://" + e.addr(ln)
	if got, _, err := transport.Parse(raw); err != nil || got != scheme {
		t.Fatalf("transport.Parse(%q) = %q, %v; want %q", raw, got, err, scheme)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		if c != nil {
			e.track(c)
		}
		accepted <- c
	}()
	d, err := transport.Dial(ctx, raw)
	if err != nil {
		ln.Close()
		<-accepted
		t.Fatalf("transport.Dial(%q): %v", raw, err)
	}
	e.track(d)
	a := <-accepted
	if a == nil {
		t.Fatal("Accept failed")
	}
	send(t, d, a, []byte("ping"))
	send(t, a, d, []byte("pong"))
}

// testNetTest runs golang.org/x/net/nettest.TestConn on a dialed and an
// accepted connection, in both orders.
func testNetTest(t *testing.T, s *suite) {
	for _, r := range roles {
		t.Run(r.name, func(t *testing.T) {
			s.guard(t, func(t *testing.T, e *env) {
				nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
					if e.isStopped() {
						return nil, nil, nil, errors.New("farpipe: transporttest: the watchdog fired; no more pipes")
					}
					ln, err := e.s.tr.Listen(context.Background(), e.s.h.ListenAddr(t))
					if err != nil {
						return nil, nil, nil, err
					}
					e.track(ln)
					d, a, err := e.connect(ln)
					if err != nil {
						ln.Close()
						return nil, nil, nil, err
					}
					c1, c2 = r.pick(d, a)
					// Both ends close at once, as two processes would: a
					// transport whose Close flushes what is queued (ws) waits
					// for its peer to read it or go away, and
					// PresentTimeout leaves c1's queue full and c2 unread.
					return c1, c2, func() {
						closed := make(chan struct{})
						go func() { // waited for below
							defer close(closed)
							c2.Close()
						}()
						c1.Close()
						<-closed
						ln.Close()
					}, nil
				})
			})
		})
	}
}
