package ws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Buffer sizes and the bound on flushing at Close.
const (
	readQueue  = 256 << 10 // received bytes held for Read; the read loop waits beyond it
	writeQueue = 256 << 10 // bytes accepted by Write and not yet sent; Write waits beyond it
	readChunk  = 64 << 10  // the most the read loop takes from the WebSocket at once
	maxMessage = 64 << 10  // the most bytes in one message

	// closeStall is how long Close waits for the peer to take another
	// message of what Write had accepted before it gives up on sending
	// the rest: a loaded peer may stall a while, a gone one never reads.
	closeStall = 10 * time.Second

	// closeFlush is how long Close then waits for the peer to answer the
	// closure before it closes the connection anyway. The peer does not
	// lose anything by that: the closure follows the data, and the peer
	// answers only once it has read up to it.
	closeFlush = time.Second
)

// A conn is one end of a byte stream over a WebSocket. The library's
// NetConn adapter carries the bytes as binary messages, but its deadlines
// close the connection when they expire during a Read or Write, and the
// session layer sets read deadlines in the past to interrupt a Read and then
// reads on. So a conn keeps the adapter to two goroutines that never see a
// deadline, the read loop and the write loop, and gives Read and Write the
// semantics of a socket: a queue of received bytes, a queue of bytes to
// send (Write returns once its bytes are queued, as it does once they are in
// a kernel's socket buffer), and deadlines that fail only the call.
//
// Concurrency: Read, Write, the deadline setters and Close may be called
// from any goroutine. mu guards everything below it; it is never held while
// calling the WebSocket. Close waits for both loops.
type conn struct {
	ws            *websocket.Conn
	nc            net.Conn  // websocket.NetConn(ws), used by the loops only
	under         io.Closer // the connection under ws, closed if Close takes too long
	cancel        context.CancelFunc
	local, remote net.Addr

	loops     sync.WaitGroup
	writeDone chan struct{} // closed when the write loop returns
	progress  chan struct{} // (1) the write loop sent a message
	closeOnce sync.Once

	mu      sync.Mutex
	changed chan struct{} // closed, and replaced, when the state below changes
	rq      bytes.Buffer  // received, unread
	rerr    error         // what Read returns once rq is empty: io.EOF or why receiving failed
	wq      []byte        // accepted by Write, not yet taken by the write loop
	spare   []byte        // the write loop's previous buffer, for reuse
	werr    error         // why sending failed
	closed  bool
	rdl     time.Time
	wdl     time.Time
}

// newConn starts the loops of a conn over ws.
func newConn(ws *websocket.Conn, under io.Closer, local, remote net.Addr) *conn {
	if under == nil {
		under = closerFunc(ws.CloseNow)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		ws: ws, nc: websocket.NetConn(ctx, ws, websocket.MessageBinary), cancel: cancel, under: under,
		local: local, remote: remote,
		writeDone: make(chan struct{}),
		progress:  make(chan struct{}, 1),
		changed:   make(chan struct{}),
	}
	c.loops.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c
}

// closerFunc is an io.Closer made of a function.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// notifyLocked wakes every call and loop waiting for a change.
func (c *conn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitLocked waits, with mu unlocked, until the state changes or deadline
// passes (none if zero). The caller checks its condition again.
func (c *conn) waitLocked(deadline time.Time) {
	ch := c.changed
	c.mu.Unlock()
	defer c.mu.Lock()
	if deadline.IsZero() {
		<-ch
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

func expired(deadline time.Time) bool {
	return !deadline.IsZero() && !time.Now().Before(deadline)
}

// readLoop moves received bytes into rq until the WebSocket ends (at the
// latest when Close closes it).
func (c *conn) readLoop() {
	defer c.loops.Done()
	buf := make([]byte, readChunk)
	for {
		n, err := c.nc.Read(buf)
		c.mu.Lock()
		if n > 0 {
			c.rq.Write(buf[:n])
			c.notifyLocked()
		}
		if err != nil {
			if c.rerr == nil {
				c.rerr = c.readError(err)
			}
			c.notifyLocked()
			c.mu.Unlock()
			return
		}
		for c.rq.Len() >= readQueue && !c.closed {
			c.waitLocked(time.Time{})
		}
		if c.closed {
			// Nobody reads any more: drop what arrives, so that a peer
			// that writes does not stall while Close flushes and closes.
			c.rq.Reset()
		}
		c.mu.Unlock()
	}
}

// readError is what Read returns after the WebSocket failed with err.
func (c *conn) readError(err error) error {
	switch {
	case err == io.EOF: // the adapter's own: the peer closed normally
		return io.EOF
	case errors.Is(err, io.EOF): // the connection ended without a closure
		return fmt.Errorf("farpipe: the WebSocket from %s ended without a closure (%v): %w", c.remote, err, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("farpipe: receiving over the WebSocket from %s: %w", c.remote, err)
}

// writeLoop sends what Write queued, in binary messages of up to
// maxMessage bytes, until the conn is closed and everything is sent, or
// sending fails.
func (c *conn) writeLoop() {
	defer c.loops.Done()
	defer close(c.writeDone)
	for {
		c.mu.Lock()
		for len(c.wq) == 0 && !c.closed && c.werr == nil {
			c.waitLocked(time.Time{})
		}
		if len(c.wq) == 0 || c.werr != nil {
			c.mu.Unlock()
			return
		}
		out := c.wq
		c.wq, c.spare = c.spare[:0], nil
		c.notifyLocked() // room for Write
		c.mu.Unlock()
		var err error
		for p := out; len(p) > 0 && err == nil; {
			k := min(len(p), maxMessage)
			_, err = c.nc.Write(p[:k])
			p = p[k:]
			select {
			case c.progress <- struct{}{}:
			default:
			}
		}
		c.mu.Lock()
		c.spare = out
		if err != nil && c.werr == nil {
			c.werr = fmt.Errorf("farpipe: sending over the WebSocket to %s: %w", c.remote, err)
			c.notifyLocked()
		}
		failed := c.werr != nil
		c.mu.Unlock()
		if failed {
			return
		}
	}
}

// Read reads received bytes, waiting for some until the read deadline.
func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed:
			return 0, net.ErrClosed
		case expired(c.rdl):
			return 0, os.ErrDeadlineExceeded
		case c.rq.Len() > 0:
			n, _ := c.rq.Read(p)
			c.notifyLocked() // room for the read loop
			return n, nil
		case c.rerr != nil:
			return 0, c.rerr
		case len(p) == 0:
			return 0, nil
		}
		c.waitLocked(c.rdl)
	}
}

// Write queues p for sending, waiting for room until the write deadline.
// On a timeout, the first n bytes were queued and will be sent.
func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for {
		switch {
		case c.closed:
			return n, net.ErrClosed
		case c.werr != nil:
			return n, c.werr
		case expired(c.wdl):
			return n, os.ErrDeadlineExceeded
		case n == len(p):
			return n, nil
		}
		if room := writeQueue - len(c.wq); room > 0 {
			k := min(room, len(p)-n)
			if len(c.wq) == 0 {
				c.notifyLocked() // wake the write loop
			}
			c.wq = append(c.wq, p[n:n+k]...)
			n += k
			continue
		}
		c.waitLocked(c.wdl)
	}
}

// Close sends what Write queued and closes the WebSocket with a normal
// closure, which the peer reads as io.EOF, then waits for the loops.
// Pending Reads and Writes return net.ErrClosed. The write deadline does
// not bound sending the rest (crypto/tls sets it to now once it has queued
// its close_notify, which must still go out), but if the peer takes
// nothing of the rest for closeStall, Close drops the connection (the peer
// then reads an error, not io.EOF); if the peer does not answer the
// closure within closeFlush, Close closes the connection without the
// answer.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		c.mu.Lock()
		c.closed = true
		c.notifyLocked()
		c.mu.Unlock()
		stall := time.NewTimer(closeStall)
		for flushing := true; flushing; {
			select {
			case <-c.writeDone:
				flushing = false
			case <-c.progress:
				stall.Reset(closeStall)
			case <-stall.C:
				c.under.Close() // the write loop fails and returns
			}
		}
		stall.Stop()
		hard := time.AfterFunc(closeFlush, func() { c.under.Close() })
		c.ws.Close(websocket.StatusNormalClosure, "")
		hard.Stop()
		c.cancel()
		c.loops.Wait()
	})
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl, c.wdl = t, t
	c.notifyLocked()
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl = t
	c.notifyLocked()
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wdl = t
	c.notifyLocked()
	return nil
}
