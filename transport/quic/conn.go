package quic

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// Error codes this transport sends in STOP_SENDING and CONNECTION_CLOSE.
const (
	codeClosed   = 0 // the end closed its connection
	codeNotPipe  = 1 // the peer did not open a farpipe stream
	codeListener = 2 // the listener closed before accepting
)

// linger bounds how long a closed end waits for the peer's close notice
// (so that the peer can still read what was written before Close) before
// it closes the QUIC connection itself: a peer that is gone, or a path
// that lost the notice, does not keep the connection until the idle
// timeout.
const linger = 5 * time.Second

// errClosed is returned by Read and Write after Close.
var errClosed = fmt.Errorf("farpipe: quic connection closed: %w", net.ErrClosed)

// errWriteClosed is returned by Write after CloseWrite.
var errWriteClosed = fmt.Errorf("farpipe: write after CloseWrite on a quic connection: %w", net.ErrClosed)

// A conn is one end of a byte stream over one bidirectional QUIC stream of
// its own QUIC connection.
//
// Closing: Close sends the stream's FIN after the bytes written (so the
// peer reads them, then io.EOF), stops reading (STOP_SENDING: the peer's
// writes fail with EPIPE) and tells the peer on a unidirectional stream
// that this end is closed. The QUIC connection itself is closed
// (CONNECTION_CLOSE) by whichever end closes second, once both are closed,
// so neither loses the bytes the other still reads; an end whose peer
// has not closed within [linger] closes the connection itself.
//
// Goroutines: a watcher waits for the peer's close notice, closes the
// connection when both ends are closed, waits for the connection to end
// and then releases the UDP socket (the dialer's own, or the listener's
// reference to its shared one). Locks: wmu (Write, CloseWrite and the
// stream's FIN, which quic-go does not allow concurrently), then mu.
type conn struct {
	qc      *quicgo.Conn
	st      *quicgo.Stream
	release func() // called once the QUIC connection has ended
	exited  chan struct{}

	wmu     sync.Mutex
	wclosed bool

	mu       sync.Mutex
	closed   bool
	peerDone bool
	ended    bool          // the QUIC connection is over
	lingerT  *time.Timer   // closes the connection if the peer does not
	done     chan struct{} // closed by Close
}

func newConn(qc *quicgo.Conn, st *quicgo.Stream, release func()) *conn {
	c := &conn{qc: qc, st: st, release: release, exited: make(chan struct{}), done: make(chan struct{})}
	go c.watch()
	return c
}

// watch is the conn's goroutine; see the type's comment.
func (c *conn) watch() {
	defer close(c.exited)
	if _, err := c.qc.AcceptUniStream(c.qc.Context()); err == nil {
		c.mu.Lock()
		c.peerDone = true
		closed := c.closed
		c.mu.Unlock()
		if closed {
			c.qc.CloseWithError(codeClosed, "")
		}
	}
	<-c.qc.Context().Done()
	c.mu.Lock()
	c.ended = true
	if c.lingerT != nil {
		c.lingerT.Stop()
	}
	c.mu.Unlock()
	c.release()
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.st.Read(p)
	if err != nil && err != io.EOF {
		err = c.mapErr(err, "read")
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		if c.isClosed() {
			return 0, errClosed
		}
		return 0, errWriteClosed
	}
	n, err := c.st.Write(p)
	if err != nil {
		err = c.mapErr(err, "write")
	}
	return n, err
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// mapErr turns an error of the stream into one of this package: timeouts
// stay as they are (net.Error with Timeout true), errors after Close are
// net.ErrClosed, a peer that stopped reading is EPIPE and a peer that
// reset its writing half is ECONNRESET.
func (c *conn) mapErr(err error, op string) error {
	if c.isClosed() {
		return errClosed
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err // a net.Error whose Timeout is true, as net.Conn wants
	}
	if se, ok := errors.AsType[*quicgo.StreamError](err); ok && se.Remote {
		if op == "write" {
			return fmt.Errorf("farpipe: the peer closed the quic stream: %w", syscall.EPIPE)
		}
		return fmt.Errorf("farpipe: the peer reset the quic stream: %w", syscall.ECONNRESET)
	}
	return fmt.Errorf("farpipe: quic %s: %w", op, err)
}

// CloseWrite sends the stream's FIN: the peer reads io.EOF after the
// bytes written before, and can still write.
func (c *conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return nil
	}
	c.wclosed = true
	if err := c.st.Close(); err != nil {
		return fmt.Errorf("farpipe: quic close write: %w", err)
	}
	return nil
}

// Close closes the connection without waiting for the peer; see the type's
// comment.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.mu.Unlock()

	c.st.CancelRead(codeClosed)
	c.st.SetWriteDeadline(time.Now()) // unblock a pending Write
	c.wmu.Lock()
	if !c.wclosed {
		c.wclosed = true
		c.st.Close()
	}
	c.wmu.Unlock()
	if u, err := c.qc.OpenUniStream(); err == nil {
		u.Close()
	}
	c.mu.Lock()
	peerDone := c.peerDone
	if !peerDone && !c.ended {
		c.lingerT = time.AfterFunc(linger, func() { c.qc.CloseWithError(codeClosed, "the peer did not close in time") })
	}
	c.mu.Unlock()
	if peerDone {
		c.qc.CloseWithError(codeClosed, "")
	}
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return c.qc.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

func (c *conn) SetDeadline(t time.Time) error {
	if c.isClosed() {
		return errClosed
	}
	return c.st.SetDeadline(t)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	if c.isClosed() {
		return errClosed
	}
	return c.st.SetReadDeadline(t)
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	if c.isClosed() {
		return errClosed
	}
	return c.st.SetWriteDeadline(t)
}
