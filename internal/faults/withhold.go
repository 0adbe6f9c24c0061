package faults

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Withhold is a loopback TCP proxy for losing one chosen message. On the
// first connection that reaches upstream it passes everything until pattern appears in the bytes
// the upstream side sends; from there on it withholds them, closes Seen,
// and on Cut resets both sides: the message was written but never arrived.
// Later connections wait until Admit, then pass unchanged.
type Withhold struct {
	ln       net.Listener
	upstream string
	pattern  []byte
	seen     chan struct{}
	cut      chan struct{}
	admit    chan struct{}
	cutOnce  sync.Once
	admitOne sync.Once
	first    atomic.Bool // the connection to withhold from has been made
	wg       sync.WaitGroup
}

// NewWithhold starts a Withhold in front of upstream; it is stopped when
// the test ends.
func NewWithhold(t testing.TB, upstream string, pattern []byte) *Withhold {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting the withholding proxy: %v", err)
	}
	w := &Withhold{
		ln: ln, upstream: upstream, pattern: pattern,
		seen: make(chan struct{}), cut: make(chan struct{}), admit: make(chan struct{}),
	}
	w.wg.Add(1)
	go w.serve()
	t.Cleanup(func() {
		ln.Close()
		w.Cut()
		w.Admit()
		w.wg.Wait()
	})
	return w
}

// Addr is the address to dial instead of upstream.
func (w *Withhold) Addr() string { return w.ln.Addr().String() }

// Seen is closed once the pattern was found and withheld.
func (w *Withhold) Seen() <-chan struct{} { return w.seen }

// Cut resets the first connection once the pattern was withheld.
func (w *Withhold) Cut() { w.cutOnce.Do(func() { close(w.cut) }) }

// Admit lets later connections through.
func (w *Withhold) Admit() { w.admitOne.Do(func() { close(w.admit) }) }

func (w *Withhold) serve() {
	defer w.wg.Done()
	var conns sync.WaitGroup // the connections' own goroutines
	defer conns.Wait()
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer c.Close()
			w.pass(c)
		}()
	}
}

// pass connects c to upstream. The first connection that reaches upstream
// (a dialer may try before the listener is up) is the one whose bytes are
// withheld; the others wait for Admit.
func (w *Withhold) pass(c net.Conn) {
	var u net.Conn
	first := false
	if !w.first.Load() {
		var err error
		if u, err = net.Dial("tcp", w.upstream); err != nil {
			return
		}
		first = w.first.CompareAndSwap(false, true)
	}
	if !first {
		<-w.admit
		if u == nil {
			var err error
			if u, err = net.Dial("tcp", w.upstream); err != nil {
				return
			}
		}
	}
	defer u.Close()
	done := make(chan struct{})
	go func() { // the dialer's bytes, unchanged
		defer close(done)
		io.Copy(u, c)
		u.(*net.TCPConn).CloseWrite()
	}()
	if first {
		w.copyUntil(c, u)
		reset(c, u)
	} else {
		io.Copy(c, u)
		c.(*net.TCPConn).CloseWrite()
	}
	<-done
}

// copyUntil copies from u to c until the pattern, which it withholds with
// everything after it, and returns on Cut.
func (w *Withhold) copyUntil(c, u net.Conn) {
	buf := make([]byte, 64<<10)
	var carry []byte // the last bytes passed on, for a pattern split across reads
	for {
		n, err := u.Read(buf)
		if err != nil {
			return
		}
		window := append(carry, buf[:n]...)
		if i := bytes.Index(window, w.pattern); i >= 0 {
			if start := i - len(carry); start > 0 {
				c.Write(buf[:start])
			}
			close(w.seen)
			<-w.cut
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
		carry = append(carry[:0], window[max(0, len(window)-len(w.pattern)+1):]...)
	}
}

// reset closes both connections with a TCP reset.
func reset(conns ...net.Conn) {
	for _, x := range conns {
		x.(*net.TCPConn).SetLinger(0)
		x.Close()
	}
}
