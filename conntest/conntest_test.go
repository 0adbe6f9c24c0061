package conntest_test

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/farpipe/farpipe/conntest"
	"github.com/farpipe/farpipe/internal/testflags"
	"github.com/farpipe/farpipe/session"
)

func TestMain(m *testing.M) {
	testflags.NoRaceExitSleep()
	goleak.VerifyTestMain(m)
}

// sessConn is a session's stream 0 as a conntest.Conn: what *farpipe.Conn
// is, without the root package (which imports conntest in its tests).
type sessConn struct {
	s  *session.Session
	st *session.Stream
}

func (c *sessConn) Read(p []byte) (int, error)         { return c.st.Read(p) }
func (c *sessConn) Write(p []byte) (int, error)        { return c.st.Write(p) }
func (c *sessConn) CloseWrite() error                  { return c.st.CloseWrite() }
func (c *sessConn) CloseRead() error                   { return c.st.CloseRead() }
func (c *sessConn) Drain(ctx context.Context) error    { return c.st.Drain(ctx) }
func (c *sessConn) Close() error                       { return c.s.Close() }
func (c *sessConn) Abort(reason string) error          { return c.s.Abort(reason) }
func (c *sessConn) LocalAddr() net.Addr                { return c.s.LocalAddr() }
func (c *sessConn) RemoteAddr() net.Addr               { return c.s.RemoteAddr() }
func (c *sessConn) SetReadDeadline(t time.Time) error  { return c.st.SetReadDeadline(t) }
func (c *sessConn) SetWriteDeadline(t time.Time) error { return c.st.SetWriteDeadline(t) }
func (c *sessConn) SetDeadline(t time.Time) error {
	c.st.SetReadDeadline(t)
	return c.st.SetWriteDeadline(t)
}

// window is the session window of the self-tests: small, so that they are
// quick and the window wraps often.
const window = 256 << 10

var selfConfig = conntest.Config{Window: window, LargeSize: 4 << 20, DuplexSize: 2 << 20}

// sessionPipe makes pipes of two sessions over net.Pipe: an in-memory,
// unbuffered transport, unlike the root package's tcp.
func sessionPipe(t *testing.T) (c1, c2 conntest.Conn, stop func(), err error) {
	cfg := session.DefaultConfig()
	cfg.Window = window
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p1, p2 := net.Pipe()
	type result struct {
		s   *session.Session
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := session.Server(ctx, p2, cfg)
		ch <- result{s, err}
	}()
	cl, err := session.Client(ctx, p1, cfg)
	srv := <-ch
	switch {
	case err != nil:
		p2.Close()
		if srv.s != nil {
			srv.s.Abort("client failed")
			srv.s.Wait()
		}
		return nil, nil, nil, err
	case srv.err != nil:
		cl.Abort("server failed")
		cl.Wait()
		return nil, nil, nil, srv.err
	}
	stop = func() {
		// Cutting the connection ends both sessions at once.
		p1.Close()
		p2.Close()
		cl.Wait()
		srv.s.Wait()
	}
	return &sessConn{cl, cl.Stream(0)}, &sessConn{srv.s, srv.s.Stream(0)}, stop, nil
}

// TestSessionOverNetPipe runs the suite over the session layer on an
// in-memory transport.
func TestSessionOverNetPipe(t *testing.T) {
	conntest.RunConfig(t, sessionPipe, selfConfig)
}

// A mutant is a deliberately broken Conn: the suite must fail it, in the
// named case, with a message containing want.
type mutant struct {
	run     string // -test.run pattern below TestMutant, one case
	want    string
	wrap    func(c conntest.Conn) conntest.Conn
	timeout time.Duration // Config.Timeout; 0: 5 s
}

var mutants = map[string]mutant{
	"DrainEarly": {
		run:  "Transfer/64KiB/c1_to_c2",
		want: "Drain returned nil before the reader called the Read that returned io.EOF",
		wrap: func(c conntest.Conn) conntest.Conn { return drainEarly{c} },
	},
	"TimeoutIsEOF": {
		run:  "EOFOnlyAfterCloseWrite/c1_to_c2",
		want: "io.EOF before CloseWrite truncates the stream",
		wrap: func(c conntest.Conn) conntest.Conn { return timeoutIsEOF{c} },
	},
	"FlipBit": {
		run:  "Transfer/64KiB/c2_to_c1",
		want: "first difference at offset 1000",
		wrap: func(c conntest.Conn) conntest.Conn { return &flipBit{Conn: c} },
	},
	"IgnoreCloseRead": {
		run:  "BrokenPipe/CloseRead/c1_to_c2",
		want: "blocked 4s after the reader went away",
		wrap: func(c conntest.Conn) conntest.Conn { return ignoreCloseRead{c} },
	},
	"SwallowTimeout": {
		run:  "Backpressure/c2_to_c1",
		want: "no backpressure",
		wrap: func(c conntest.Conn) conntest.Conn { return swallowTimeout{c} },
	},
	"WrongAbortReason": {
		run:  "Abort/c1_to_c2",
		want: `want an error whose text contains the reason "conntest: reason xyz"`,
		wrap: func(c conntest.Conn) conntest.Conn { return wrongAbortReason{c} },
	},
	"HangAfterEOF": {
		run:     "ReadAfterEOF/c2_to_c1",
		want:    "after the pipe was stopped: stop does not unblock pending operations",
		wrap:    func(c conntest.Conn) conntest.Conn { return &hangAfterEOF{Conn: c} },
		timeout: time.Second,
	},
}

// TestSuiteCatchesBugs runs each mutant in a child process (a failing
// suite fails its test) and checks that the suite failed it, for the right
// reason, without hanging.
func TestSuiteCatchesBugs(t *testing.T) {
	if os.Getenv("CONNTEST_MUTANT") != "" {
		t.Skip("in a child process")
	}
	for name, m := range mutants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMutant$/^"+m.run+"$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "CONNTEST_MUTANT="+name)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			switch {
			case ctx.Err() != nil:
				t.Fatalf("the suite hung on mutant %s:\n%s", name, out)
			case err == nil:
				t.Fatalf("the suite passed mutant %s:\n%s", name, out)
			case !errors.As(err, &ee):
				t.Fatalf("running the child: %v", err)
			case !strings.Contains(string(out), "--- FAIL: TestMutant/"):
				t.Fatalf("mutant %s: the child failed, but no case of the suite did:\n%s", name, out)
			case !strings.Contains(string(out), m.want):
				t.Fatalf("mutant %s: the suite failed it, but without %q:\n%s", name, m.want, out)
			}
		})
	}
}

// TestMutant runs the suite against the mutant named by $CONNTEST_MUTANT;
// TestSuiteCatchesBugs starts it.
func TestMutant(t *testing.T) {
	name := os.Getenv("CONNTEST_MUTANT")
	if name == "" {
		t.Skip("run by TestSuiteCatchesBugs")
	}
	m, ok := mutants[name]
	if !ok {
		t.Fatalf("no mutant %q", name)
	}
	mp := func(t *testing.T) (c1, c2 conntest.Conn, stop func(), err error) {
		c1, c2, stop, err = sessionPipe(t)
		if err != nil {
			return nil, nil, nil, err
		}
		return m.wrap(c1), m.wrap(c2), stop, nil
	}
	cfg := selfConfig
	cfg.Timeout = cmp.Or(m.timeout, 5*time.Second)
	conntest.RunConfig(t, mp, cfg)
}

type drainEarly struct{ conntest.Conn }

func (drainEarly) Drain(context.Context) error { return nil }

type timeoutIsEOF struct{ conntest.Conn }

func (c timeoutIsEOF) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = io.EOF
	}
	return n, err
}

type flipBit struct {
	conntest.Conn
	mu  sync.Mutex
	off int
}

func (c *flipBit) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if i := 1000 - c.off; i >= 0 && i < n {
		p[i] ^= 1
	}
	c.off += n
	return n, err
}

type ignoreCloseRead struct{ conntest.Conn }

func (ignoreCloseRead) CloseRead() error { return nil }

type swallowTimeout struct{ conntest.Conn }

func (c swallowTimeout) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return len(p), nil
	}
	return n, err
}

type wrongAbortReason struct{ conntest.Conn }

func (c wrongAbortReason) Abort(string) error { return c.Conn.Abort("something else") }

type hangAfterEOF struct {
	conntest.Conn
	mu  sync.Mutex
	eof bool
}

var never = make(chan struct{})

func (c *hangAfterEOF) Read(p []byte) (int, error) {
	c.mu.Lock()
	eof := c.eof
	c.mu.Unlock()
	if eof {
		<-never // a Read that nothing unblocks, not even stop
	}
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.mu.Lock()
		c.eof = true
		c.mu.Unlock()
	}
	return n, err
}
