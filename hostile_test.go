package farpipe_test

// Hostile input never hurts: a Listener with default security faces
// clients that send garbage, stall half-way through the handshake, replay a
// recorded handshake, hold the wrong token or speak HTTP. Each must be
// dropped with an error reported to WithErrorLog, never a panic, and a
// legitimate peer must connect and transfer intact while they are there.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/wire"
)

// hostileWatchdog crashes the test binary, with every goroutine's stack, if the
// test is still running after d: no hostile test may hang.
func hostileWatchdog(t *testing.T, d time.Duration) {
	t.Helper()
	name := t.Name()
	timer := time.AfterFunc(d, func() {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		fmt.Fprintf(os.Stderr, "%s\n", buf)
		panic(fmt.Sprintf("watchdog: %s still running after %s", name, d))
	})
	t.Cleanup(func() { timer.Stop() })
}

// hostileErrLog collects what a Listener reports to WithErrorLog.
type hostileErrLog struct {
	mu    sync.Mutex
	errs  []error
	added chan struct{} // closed by add; nil until someone waits
}

func (l *hostileErrLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	if l.added != nil {
		close(l.added)
		l.added = nil
	}
	l.mu.Unlock()
}

func (l *hostileErrLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// waitLen waits until at least n errors were logged, or timeout.
func (l *hostileErrLog) waitLen(n int, timeout time.Duration) []error {
	limit := time.After(timeout)
	for {
		l.mu.Lock()
		if len(l.errs) >= n {
			errs := append([]error(nil), l.errs...)
			l.mu.Unlock()
			return errs
		}
		if l.added == nil {
			l.added = make(chan struct{})
		}
		added := l.added
		l.mu.Unlock()
		select {
		case <-added:
		case <-limit:
			return l.all()
		}
	}
}

// hostileListener listens on loopback with default security, reporting
// failed handshakes to the returned log.
func hostileListener(t *testing.T, opts ...farpipe.Option) (*farpipe.Listener, *hostileErrLog) {
	t.Helper()
	log := &hostileErrLog{}
	opts = append([]farpipe.Option{farpipe.WithErrorLog(log.add)}, opts...)
	ln, err := farpipe.Listen(context.Background(), "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, log
}

// hostileLegitPair dials the listener at addr as a legitimate peer and
// accepts the connection. A connection accepted for an earlier, failed
// attempt is recognised by its address (when addr is the listener's own)
// and aborted.
func hostileLegitPair(ctx context.Context, ln *farpipe.Listener, addr string, opts ...farpipe.Option) (d, a *farpipe.Conn, err error) {
	direct := strings.Contains(addr, ln.Addr().String())
	accepted := make(chan *farpipe.Conn)
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept(actx)
			if err != nil {
				return
			}
			select {
			case accepted <- c:
			case <-actx.Done():
				c.Abort("test over")
				return
			}
		}
	}()
	d, err = farpipe.Dial(ctx, addr, opts...)
	if err != nil {
		return nil, nil, err
	}
	for {
		select {
		case a = <-accepted:
			if direct && a.RemoteAddr().String() != d.LocalAddr().String() {
				a.Abort("test over: not the connection this attempt dialed")
				continue
			}
			return d, a, nil
		case <-d.Done():
			// The dialer finished its side of the handshake, but the
			// listener dropped the connection before it finished its own.
			return nil, nil, fmt.Errorf("the dialed connection ended before the listener accepted it: %w", d.Err())
		case <-ctx.Done():
			d.Abort("test over")
			return nil, nil, fmt.Errorf("accept: %w", ctx.Err())
		}
	}
}

// hostileExchange writes n pseudo-random bytes (from seed) to w and reads n bytes
// from r, and checks that their SHA-256 sums match. Neither direction is
// closed. The whole exchange must take less than timeout.
func hostileExchange(w, r *farpipe.Conn, n int64, seed uint64, timeout time.Duration) error {
	dl := time.Now().Add(timeout)
	w.SetWriteDeadline(dl)
	r.SetReadDeadline(dl)
	defer w.SetWriteDeadline(time.Time{})
	defer r.SetReadDeadline(time.Time{})
	sent := make(chan []byte, 1)
	werr := make(chan error, 1)
	go func() {
		h := sha256.New()
		rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 7})
		buf := make([]byte, 1<<20)
		for left := n; left > 0; {
			b := buf[:min(left, int64(len(buf)))]
			rng.Read(b)
			h.Write(b)
			if _, err := w.Write(b); err != nil {
				r.Abort("writer failed") // unblocks the reader
				werr <- fmt.Errorf("write after %d bytes: %w", n-left, err)
				sent <- nil
				return
			}
			left -= int64(len(b))
		}
		werr <- nil
		sent <- h.Sum(nil)
	}()
	h := sha256.New()
	got, rerr := io.CopyN(h, r, n)
	if rerr != nil {
		w.Abort("reader failed") // unblocks the writer
	}
	if err := <-werr; err != nil {
		<-sent
		return err
	}
	want := <-sent
	if rerr != nil {
		return fmt.Errorf("read after %d of %d bytes: %w", got, n, rerr)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return fmt.Errorf("sha256 of the %d bytes received differs from what was sent", n)
	}
	return nil
}

// hostileFinish closes w's writing direction and checks that r reads a clean EOF
// and that w learns the bytes were delivered.
func hostileFinish(w, r *farpipe.Conn, timeout time.Duration) error {
	if err := w.CloseWrite(); err != nil {
		return fmt.Errorf("CloseWrite: %w", err)
	}
	r.SetReadDeadline(time.Now().Add(timeout))
	defer r.SetReadDeadline(time.Time{})
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return fmt.Errorf("after CloseWrite the peer read %d bytes and %v, want io.EOF", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := w.Drain(ctx); err != nil {
		return fmt.Errorf("Drain: %w", err)
	}
	return nil
}

// hostileLegitTransfer connects a legitimate peer to ln and sends n bytes through
// it, checked end to end.
func hostileLegitTransfer(ctx context.Context, ln *farpipe.Listener, n int64) error {
	d, a, err := hostileLegitPair(ctx, ln, ln.URL())
	if err != nil {
		return fmt.Errorf("legitimate peer: %w", err)
	}
	defer a.Abort("test over")
	defer d.Abort("test over")
	if err := hostileExchange(d, a, n, uint64(n), time.Minute); err != nil {
		return fmt.Errorf("legitimate transfer: %w", err)
	}
	return hostileClose(d, a)
}

// hostileClose ends a legitimate pair gracefully: both directions closed
// and drained, then both Conns closed and ended without an error.
func hostileClose(d, a *farpipe.Conn) error {
	if err := hostileFinish(d, a, 30*time.Second); err != nil {
		return fmt.Errorf("dialer to listener: %w", err)
	}
	if err := hostileFinish(a, d, 30*time.Second); err != nil {
		return fmt.Errorf("listener to dialer: %w", err)
	}
	d.Close()
	a.Close()
	for _, c := range []*farpipe.Conn{d, a} {
		select {
		case <-c.Done():
			if err := c.Err(); err != nil {
				return fmt.Errorf("after a graceful close: %w", err)
			}
		case <-time.After(30 * time.Second):
			return errors.New("the Conn did not end within 30 s of a graceful close")
		}
	}
	return nil
}

// hostileKind is a kind of hostile client: it connects, maybe completes
// TLS as any client could, sends payload and then holds the connection
// open, silent.
type hostileKind struct {
	name    string
	tls     bool
	payload []byte
	want    error // what the listener's error must match; nil: any error
	stall   bool  // the client stalls: only the handshake timeout ends it
}

func hostileDialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// open connects to addr and sends the kind's bytes. connected, if not nil,
// is called once the TCP connection is up.
func (k hostileKind) open(ctx context.Context, addr string, connected func()) (net.Conn, error) {
	c, err := hostileDialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	if connected != nil {
		connected()
	}
	if k.tls {
		// The listener's certificate is ephemeral: nobody verifies it.
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"farpipe/1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		c = tc
	}
	if len(k.payload) > 0 {
		if dl, ok := ctx.Deadline(); ok {
			c.SetWriteDeadline(dl)
		}
		// A write error means the listener has already dropped the
		// connection, which is what the test wants to see.
		c.Write(k.payload)
		c.SetWriteDeadline(time.Time{})
	}
	return c, nil
}

func hostileAbsurdHeader() []byte {
	b := make([]byte, wire.HeaderLen)
	wire.Header{Type: wire.TypeHello, Length: 0xffffffff}.Put(b)
	return b
}

func hostileRandomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{'h', 'o', 's', 't', 'i', 'l', 'e'}).Read(b)
	return b
}

// hostileHalfHello is the first half of a dialer's HELLO frame.
func hostileHalfHello() []byte {
	var h wire.Hello
	h.Role = wire.RoleDialer
	h.Auth = []wire.AuthMethod{wire.AuthToken}
	p, err := h.MarshalBinary()
	if err != nil {
		panic(err)
	}
	b := make([]byte, wire.HeaderLen, wire.HeaderLen+len(p))
	wire.Header{Type: wire.TypeHello, Length: uint32(len(p))}.Put(b)
	b = append(b, p...)
	return b[:len(b)/2]
}

var hostileKinds = []hostileKind{
	{name: "random bytes", payload: hostileRandomBytes(4096), want: farpipe.ErrProtocol},
	{name: "absurd frame length in plaintext", payload: hostileAbsurdHeader(), want: farpipe.ErrProtocol},
	{name: "absurd frame length inside TLS", tls: true, payload: hostileAbsurdHeader(), want: farpipe.ErrProtocol},
	{name: "random bytes inside TLS", tls: true, payload: hostileRandomBytes(4096), want: farpipe.ErrProtocol},
	{name: "HTTP GET", payload: []byte("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: hostile\r\n\r\n"), want: farpipe.ErrProtocol},
	{name: "HTTP GET inside TLS", tls: true, payload: []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"), want: farpipe.ErrProtocol},
	{name: "slowloris: TCP, silent", want: farpipe.ErrTimeout, stall: true},
	{name: "slowloris: 3 bytes of a TLS record", payload: []byte{0x16, 0x03, 0x01}, want: farpipe.ErrTimeout, stall: true},
	{name: "slowloris: TLS, then half a HELLO", tls: true, payload: hostileHalfHello(), want: farpipe.ErrTimeout, stall: true},
}

// hostileConn is a hostile connection held open by the client. Its reader notes
// when and how the listener closed it.
type hostileConn struct {
	c      net.Conn
	closed chan struct{} // closed when the listener closed the connection
	err    error         // what the client's read returned then
	at     time.Time
	local  atomic.Bool // the client closed it itself
}

func hostileHold(c net.Conn) *hostileConn {
	h := &hostileConn{c: c, closed: make(chan struct{})}
	go func() {
		defer close(h.closed)
		_, err := io.Copy(io.Discard, c)
		if err == nil {
			err = io.EOF
		}
		h.err, h.at = err, time.Now()
	}()
	return h
}

// closedByListener waits up to timeout for the listener to close h.
func (h *hostileConn) closedByListener(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-h.closed:
	case <-t.C:
		select {
		case <-h.closed:
		default:
			return fmt.Errorf("still open after %s", timeout)
		}
	}
	if h.local.Load() {
		return errors.New("the client closed it first")
	}
	var ne net.Error
	if errors.As(h.err, &ne) && ne.Timeout() {
		return fmt.Errorf("client read timed out: %v", h.err)
	}
	return nil
}

func (h *hostileConn) close() {
	h.local.Store(true)
	h.c.Close()
	<-h.closed
}

// TestHostileKinds opens a few connections of each hostile kind against a
// listener, then has a legitimate peer transfer while they are open. The
// listener must close every hostile connection with an error of the right
// kind in its error log, and the legitimate transfer must arrive intact.
func TestHostileKinds(t *testing.T) {
	const (
		perKind          = 3
		handshakeTimeout = 2 * time.Second
	)
	for _, k := range hostileKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			hostileWatchdog(t, 2*time.Minute)
			ln, log := hostileListener(t, farpipe.WithHandshakeTimeout(handshakeTimeout))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var hs []*hostileConn
			defer func() {
				for _, h := range hs {
					h.close()
				}
			}()
			for range perKind {
				c, err := k.open(ctx, ln.Addr().String(), nil)
				if err != nil {
					t.Fatalf("opening a hostile connection: %v", err)
				}
				hs = append(hs, hostileHold(c))
			}
			start := time.Now()
			if err := hostileLegitTransfer(ctx, ln, 4<<20); err != nil {
				t.Fatalf("with %d hostile connections open: %v", perKind, err)
			}
			if k.stall {
				t.Logf("legitimate 4 MiB transfer done in %s, while the stalled connections were held", time.Since(start).Round(time.Millisecond))
			}
			for i, h := range hs {
				if err := h.closedByListener(handshakeTimeout + 10*time.Second); err != nil {
					t.Errorf("hostile connection %d: the listener did not close it: %v", i, err)
				}
			}
			errs := log.waitLen(perKind, 10*time.Second)
			if len(errs) != perKind {
				t.Errorf("the error log has %d errors, want %d: %v", len(errs), perKind, errs)
			}
			for _, err := range errs {
				if k.want != nil && !errors.Is(err, k.want) {
					t.Errorf("logged error %q does not match %q", err, k.want)
				}
			}
			if len(errs) > 0 {
				t.Logf("the listener logged: %v", errs[0])
			}
		})
	}
}

// TestHostileWrongToken dials with the wrong token while a legitimate peer
// transfers: each such Dial fails with ErrAuth, the listener logs an
// authentication error for each, and the legitimate transfer is intact.
func TestHostileWrongToken(t *testing.T) {
	hostileWatchdog(t, 2*time.Minute)
	const wrong = 3
	ln, log := hostileListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, wrong)
	for range wrong {
		go func() {
			c, err := farpipe.Dial(ctx, ln.Addr().String(), farpipe.WithToken("wrong-token-0123456789"))
			if err == nil {
				c.Abort("test over")
			}
			errc <- err
		}()
	}
	if err := hostileLegitTransfer(ctx, ln, 4<<20); err != nil {
		t.Errorf("while wrong-token peers dialed: %v", err)
	}
	for range wrong {
		err := <-errc
		if err == nil {
			t.Error("Dial with the wrong token succeeded")
		} else if !errors.Is(err, farpipe.ErrAuth) {
			t.Errorf("Dial with the wrong token: %v, want ErrAuth", err)
		}
	}
	errs := log.waitLen(wrong, 10*time.Second)
	if len(errs) != wrong {
		t.Errorf("the error log has %d errors, want %d: %v", len(errs), wrong, errs)
	}
	for _, err := range errs {
		if !errors.Is(err, farpipe.ErrAuth) {
			t.Errorf("logged error %q does not match ErrAuth", err)
		}
	}
	if len(errs) > 0 {
		t.Logf("the listener logged: %v", errs[0])
	}
}

// hostileRecorder is a TCP forwarder to target that records what clients send on
// each connection, and can cut a connection.
type hostileRecorder struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	sent  []*bytes.Buffer // per connection, client to target
	conns [][2]net.Conn
}

func newHostileRecorder(t *testing.T, target string) *hostileRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &hostileRecorder{ln: ln, target: target}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.close)
	return r
}

type hostileLockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w hostileLockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (r *hostileRecorder) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		buf := &bytes.Buffer{}
		r.mu.Lock()
		r.sent = append(r.sent, buf)
		r.conns = append(r.conns, [2]net.Conn{c, s})
		r.mu.Unlock()
		r.wg.Add(2)
		go func() {
			defer r.wg.Done()
			io.Copy(io.MultiWriter(s, hostileLockedWriter{&r.mu, buf}), c)
			c.Close()
			s.Close()
		}()
		go func() {
			defer r.wg.Done()
			io.Copy(c, s)
			c.Close()
			s.Close()
		}()
	}
}

// recorded returns what the client sent on connection i so far.
func (r *hostileRecorder) recorded(i int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= len(r.sent) {
		return nil
	}
	return bytes.Clone(r.sent[i].Bytes())
}

// cut closes connection i at once, both ways.
func (r *hostileRecorder) cut(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns[i] {
		c.Close()
	}
}

func (r *hostileRecorder) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, cs := range r.conns {
		cs[0].Close()
		cs[1].Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// TestHostileReplayedHandshake records what a legitimate dialer sent on a
// connection (through a forwarder) and replays it to the listener on a new
// connection, while the legitimate session runs. The replay must fail with
// an error in the listener's log, and the legitimate session must carry on
// undisturbed: no reconnection, every byte intact. "resume" replays the
// connection on which the dialer resumed its session after a cut.
func TestHostileReplayedHandshake(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []farpipe.Option
		resume bool
		want   error // what the logged error must match; nil: any
	}{
		{name: "new session"},
		{name: "resume", resume: true},
		{name: "new session, no encryption", opts: []farpipe.Option{farpipe.WithNoEncrypt()}, want: farpipe.ErrAuth},
		{name: "resume, no encryption", opts: []farpipe.Option{farpipe.WithNoEncrypt()}, resume: true, want: farpipe.ErrAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostileWatchdog(t, 2*time.Minute)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			opts := append([]farpipe.Option{farpipe.WithBackoffMax(100 * time.Millisecond)}, tc.opts...)
			// Why the listener's side of the session lost its connection.
			var (
				lnMu   sync.Mutex
				lnLost []string
			)
			lnEvents := farpipe.WithEvents(func(e farpipe.Event) {
				if e.Kind == farpipe.EventDisconnected {
					lnMu.Lock()
					lnLost = append(lnLost, e.String())
					lnMu.Unlock()
				}
			})
			ln, log := hostileListener(t, append(opts, farpipe.WithHandshakeTimeout(2*time.Second), lnEvents)...)
			fwd := newHostileRecorder(t, ln.Addr().String())
			var disconnects atomic.Int32
			resumed := make(chan struct{}, 1)
			events := farpipe.WithEvents(func(e farpipe.Event) {
				switch e.Kind {
				case farpipe.EventDisconnected:
					disconnects.Add(1)
				case farpipe.EventResumed:
					select {
					case resumed <- struct{}{}:
					default:
					}
				}
			})
			d, a, err := hostileLegitPair(ctx, ln, "fp://"+fwd.ln.Addr().String()+"/#"+ln.Token(), append(opts, events)...)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Abort("test over")
			defer d.Abort("test over")
			both := func(seed uint64) {
				t.Helper()
				if err := hostileExchange(d, a, 1<<20, seed, 30*time.Second); err != nil {
					t.Fatalf("dialer to listener: %v", err)
				}
				if err := hostileExchange(a, d, 256<<10, seed+1, 30*time.Second); err != nil {
					t.Fatalf("listener to dialer: %v", err)
				}
			}
			both(1)
			conn := 0
			if tc.resume {
				fwd.cut(0)
				select {
				case <-resumed:
				case <-time.After(20 * time.Second):
					t.Fatal("the dialer did not resume after the cut")
				}
				both(3)
				conn = 1
			}
			replay := fwd.recorded(conn)
			if len(replay) == 0 {
				t.Fatal("nothing recorded")
			}
			reconnects := [2]int{d.Stats().Reconnects, a.Stats().Reconnects}
			disc := disconnects.Load()
			logged := len(log.all())

			// The replay, straight to the listener.
			c, err := hostileDialTCP(ctx, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			h := hostileHold(c)
			defer h.close()
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.Write(replay) // may fail once the listener gave up: fine
			if err := h.closedByListener(15 * time.Second); err != nil {
				t.Errorf("the listener did not close the replaying connection: %v", err)
			}
			errs := log.waitLen(logged+1, 10*time.Second)
			if len(errs) != logged+1 {
				t.Errorf("the error log has %d new errors, want 1: %v", len(errs)-logged, errs[logged:])
			} else {
				err := errs[logged]
				t.Logf("replay of %d bytes; the listener logged: %v", len(replay), err)
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("logged error does not match %q", tc.want)
				}
			}

			// The legitimate session carries on, undisturbed.
			both(5)
			now := [2]int{d.Stats().Reconnects, a.Stats().Reconnects}
			if err := hostileClose(d, a); err != nil {
				t.Fatal(err)
			}
			if now != reconnects || disconnects.Load() != disc {
				lnMu.Lock()
				lost := strings.Join(lnLost, "; ")
				lnMu.Unlock()
				t.Errorf("the replay disturbed the legitimate session: reconnects (dialer, listener) went from %v to %v, disconnections from %d to %d; the listener's side: %s",
					reconnects, now, disc, disconnects.Load(), lost)
			}
		})
	}
}

// TestHostileFlood opens 200 garbage and slowloris connections at once
// against one listener with default options and holds them open, while a
// legitimate peer connects and transfers 64 MiB (16 MiB with -short). The
// legitimate peer must get through within 10 s, the stream must arrive
// intact, and the listener must close every hostile connection with an
// error in its log. The Go heap is measured and logged.
func TestHostileFlood(t *testing.T) {
	size := int64(64 << 20) // 8 windows: enough to see the heap bounded
	if testing.Short() {
		size = 16 << 20
	}
	hostileFlood(t, false, size)
}

// TestHostileFloodReconnecting is TestHostileFlood with attackers that
// reopen each connection the listener drops (after 10 ms): 200 hostile
// connections stay open the whole time. A legitimate peer that keeps
// trying must get through within 10 s, and transfer 16 MiB intact.
func TestHostileFloodReconnecting(t *testing.T) {
	hostileFlood(t, true, 16<<20)
}

func hostileFlood(t *testing.T, reopen bool, size int64) {
	const (
		hostiles = 200
		connect  = 10 * time.Second
		pause    = 10 * time.Millisecond // before an attacker reopens a dropped connection
	)
	hostileWatchdog(t, 4*time.Minute)
	ln, log := hostileListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	heap := func(gc bool) uint64 {
		if gc {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	// The heap once it has settled: sessions of earlier tests end in the
	// background.
	settled := func() uint64 {
		last := heap(true)
		for range 30 {
			time.Sleep(100 * time.Millisecond)
			h := heap(true)
			if max(h, last)-min(h, last) < 256<<10 {
				return h
			}
			last = h
		}
		return last
	}
	heapBefore := settled()

	// The flood: a third garbage, two thirds stalling, each attacker in
	// its own goroutine since a TLS client may wait for the listener.
	var garbage, stalls []hostileKind
	for _, k := range hostileKinds {
		if k.stall {
			stalls = append(stalls, k)
		} else {
			garbage = append(garbage, k)
		}
	}
	var (
		wg        sync.WaitGroup
		stop      = make(chan struct{})
		up        atomic.Int32          // attackers whose first connection is up
		allUp     = make(chan struct{}) // closed when up reaches hostiles
		conns     atomic.Int64          // TCP connections the attackers made
		dropped   atomic.Int64          // connections the listener closed
		openErrs  atomic.Int64          // connections closed while being opened (during TLS)
		notClosed atomic.Int64          // connections that ended otherwise (a timeout)
		mu        sync.Mutex
		firstErr  error
	)
	for i := range hostiles {
		k := garbage[(i/3)%len(garbage)]
		if i%3 != 0 {
			k = stalls[i%len(stalls)]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for {
				c, err := k.open(ctx, ln.Addr().String(), func() {
					conns.Add(1)
					if first {
						if up.Add(1) == hostiles {
							close(allUp)
						}
						first = false
					}
				})
				if err != nil {
					// The listener dropped it during TLS, to make room.
					openErrs.Add(1)
				} else {
					h := hostileHold(c)
					select {
					case <-stop:
						h.close()
						return
					case <-h.closed:
						if err := h.closedByListener(0); err != nil {
							notClosed.Add(1)
							mu.Lock()
							firstErr = cmp.Or(firstErr, fmt.Errorf("%s: %w", k.name, err))
							mu.Unlock()
						}
						dropped.Add(1)
					}
				}
				if !reopen {
					return
				}
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				case <-time.After(pause):
				}
			}
		}()
	}
	stopFlood := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopFlood()
	select {
	case <-allUp:
	case <-ctx.Done():
	}
	time.Sleep(200 * time.Millisecond) // let the last ones send and stall
	heapFlood := heap(true)

	// The legitimate peer: one attempt against the flood of open
	// connections; against reconnecting attackers, as many as fit in 10 s.
	start := time.Now()
	var (
		d, a     *farpipe.Conn
		err      error
		attempts int
	)
	for attempts = 1; ; attempts++ {
		dctx, dcancel := context.WithDeadline(ctx, start.Add(connect))
		d, a, err = hostileLegitPair(dctx, ln, ln.URL())
		dcancel()
		if err == nil || !reopen || time.Since(start) > connect {
			break
		}
		if attempts == 1 {
			t.Logf("the legitimate peer's first attempt failed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the legitimate peer did not get through within %s (%d attempt(s)) with %d hostile connections open: %v",
			connect, attempts, hostiles, err)
	}
	t.Logf("the legitimate peer connected after %s (%d attempt(s))", time.Since(start).Round(time.Millisecond), attempts)
	defer func() {
		if d != nil {
			d.Abort("test over")
			a.Abort("test over")
		}
	}()

	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if h := heap(false); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()
	start = time.Now()
	err = hostileExchange(d, a, size, 42, 2*time.Minute)
	if err == nil {
		err = hostileClose(d, a)
	}
	took := time.Since(start)
	close(stopSampling)
	<-sampled
	if err != nil {
		t.Fatalf("legitimate transfer of %d MiB: %v", size>>20, err)
	}
	t.Logf("legitimate transfer of %d MiB intact (sha256) in %s (%.0f MiB/s) with %d hostile connections open",
		size>>20, took.Round(time.Millisecond), float64(size>>20)/took.Seconds(), hostiles)
	a.Abort("test over")
	d.Abort("test over")
	d, a = nil, nil
	heapAfter := settled()
	t.Logf("Go heap in use: %.1f MiB before, %.1f MiB with the flood open, %.1f MiB peak during the transfer, %.1f MiB after",
		hostileMiB(heapBefore), hostileMiB(heapFlood), hostileMiB(peak.Load()), hostileMiB(heapAfter))

	if !reopen {
		// The listener closes every hostile connection by itself: those
		// it dropped to make room, and the rest when their handshake
		// times out (10 s).
		deadline := time.Now().Add(30 * time.Second)
		for dropped.Load()+openErrs.Load() < hostiles && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := dropped.Load() + openErrs.Load(); n < hostiles {
			t.Errorf("the listener closed %d of the %d hostile connections within 30 s", n, hostiles)
		}
	}
	stopFlood()
	t.Logf("flood: %d hostile connections made, %d dropped by the listener, %d of them during TLS",
		conns.Load(), dropped.Load()+openErrs.Load(), openErrs.Load())
	if n := notClosed.Load(); n > 0 {
		t.Errorf("%d hostile connection(s) were not closed by the listener, first: %v", n, firstErr)
	}
	// Every hostile connection ended with an error in the log, those the
	// test closed itself at the end included.
	n := int(conns.Load())
	if errs := log.waitLen(n, 20*time.Second); len(errs) < n {
		t.Errorf("the error log has %d errors, want at least %d (one per hostile connection)", len(errs), n)
	}
}

func hostileMiB(b uint64) float64 { return float64(b) / (1 << 20) }

// TestHostileAbortCrossing aborts a legitimate session from the dialer's
// side alone, and from both sides at the same moment (a peer that aborts
// whenever this side does). Abort waits up to a second for its ABORT frame
// to be written; it must not wait that second when the peer's reaction (its
// own ABORT, or closing the connection) ends the session first. And an
// aborted dialer must not take the peer's close for a lost connection: no
// resumption attempt, so nothing in the listener's error log.
func TestHostileAbortCrossing(t *testing.T) {
	for _, both := range []bool{false, true} {
		name := "dialer aborts"
		if both {
			name = "both abort"
		}
		t.Run(name, func(t *testing.T) {
			hostileWatchdog(t, 2*time.Minute)
			ln, log := hostileListener(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			const runs = 30
			var slow, resumed []string
			for i := range runs {
				var redialed atomic.Bool
				d, a, err := hostileLegitPair(ctx, ln, ln.URL(), farpipe.WithEvents(func(e farpipe.Event) {
					if e.Kind == farpipe.EventDisconnected {
						redialed.Store(true)
					}
				}))
				if err != nil {
					t.Fatal(err)
				}
				if err := hostileExchange(d, a, 64<<10, uint64(i), 30*time.Second); err != nil {
					t.Fatal(err)
				}
				conns := []*farpipe.Conn{d}
				if both {
					conns = append(conns, a)
				}
				var took [2]time.Duration
				var wg sync.WaitGroup
				for j, c := range conns {
					wg.Add(1)
					go func() {
						defer wg.Done()
						start := time.Now()
						c.Abort("crossing")
						took[j] = time.Since(start)
					}()
				}
				wg.Wait()
				a.Abort("test over")
				if max(took[0], took[1]) > 500*time.Millisecond {
					slow = append(slow, fmt.Sprintf("run %d: dialer's Abort took %s, listener's %s", i, took[0].Round(time.Millisecond), took[1].Round(time.Millisecond)))
				}
				if redialed.Load() {
					resumed = append(resumed, fmt.Sprintf("run %d: the aborted dialer ended with: %v", i, d.Err()))
				}
			}
			if len(slow) > 0 {
				t.Errorf("in %d of %d runs an Abort waited for its timeout:\n%s", len(slow), runs, strings.Join(slow, "\n"))
			}
			if len(resumed) > 0 {
				t.Errorf("in %d of %d runs the aborted dialer saw a lost connection and tried to resume:\n%s", len(resumed), runs, strings.Join(resumed, "\n"))
			}
			if errs := log.waitLen(1, 200*time.Millisecond); len(errs) > 0 {
				t.Errorf("the listener logged %d error(s) for legitimate sessions that were aborted, first: %v", len(errs), errs[0])
			}
		})
	}
}
