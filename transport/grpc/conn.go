package grpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/farpipe/farpipe/internal/deadline"
	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/mem"
)

// chunkSize is the most bytes one gRPC message carries: a Write is cut
// into messages of at most this size, far below gRPC's default limit of
// 4 MiB per received message.
const chunkSize = 256 << 10

// linger bounds how long a closed dialer's end waits for the listener to
// end the stream (so that the bytes written before Close are delivered)
// before it resets the stream and closes its HTTP/2 connection.
const linger = 10 * time.Second

// queued is how many Writes (of at most chunkSize bytes each) may wait
// for the writer, and how many received messages for Read: like a
// socket's buffers, they let each side run on without waiting for the
// other's goroutine to be scheduled at every message. The writer sends
// queued Writes together, up to chunkSize, as one message.
const queued = 8

// writeOp is a Write's bytes for the writer, or CloseWrite (fin).
type writeOp struct {
	data mem.BufferSlice
	fin  bool
}

// errPeerClosed is returned by Write once the peer has ended the stream.
var errPeerClosed = fmt.Errorf("farpipe: the peer closed the grpc stream: %w", syscall.EPIPE)

// errClosed is returned by Read and Write after Close.
var errClosed = fmt.Errorf("farpipe: grpc connection closed: %w", net.ErrClosed)

// errWriteClosed is returned by Write after CloseWrite.
var errWriteClosed = fmt.Errorf("farpipe: write after CloseWrite on a grpc connection: %w", net.ErrClosed)

// stream is what a conn needs of a gRPC client or server stream.
type stream interface {
	SendMsg(m any) error
	RecvMsg(m any) error
}

// A conn is one end of a byte stream over one bidirectional gRPC stream:
// every Write becomes one or more messages, and Read returns their bytes in
// order.
//
// Half-close: the dialer's CloseWrite half-closes the gRPC stream
// (CloseSend); the listener's sends an empty message, since a gRPC server
// cannot end its half of a stream without ending the whole call. Close on
// the listener's end returns from the call's handler, which ends the
// stream after the messages already written; Close on the dialer's end
// half-closes and waits in the background, at most [linger], for the
// listener to end the stream, then closes the HTTP/2 connection.
//
// Goroutines: a writer (the only caller of SendMsg and CloseSend) takes
// chunks from Write through a queue of [queued]; a reader (the only caller
// of RecvMsg) hands received messages to Read through another, and stops
// receiving while it is full, so gRPC's flow control holds back a peer
// whose reader does not read. Close lets the writer send what is queued
// before it ends its half. On the dialer's end the
// reader ends the call when the stream ends: it cancels the stream, waits
// for the writer and closes the gRPC client. On the listener's end, the
// handler waits for the writer and returns; the reader then ends with the
// call. Locks: wmu (one Write or CloseWrite at a time) and rmu (one Read),
// never both; mu guards the errors.
type conn struct {
	st            stream
	client        *grpclib.ClientConn // the dialer's; nil on the listener's end
	cancel        context.CancelFunc  // ends the stream (the dialer's end)
	local, remote net.Addr

	wq      chan writeOp     // Write and CloseWrite to the writer
	done    chan struct{}    // closed by Close
	wdone   chan struct{}    // closed when the writer has stopped
	rq      chan *mem.Reader // the reader to Read
	eof     chan struct{}    // closed when the reader has no more for Read
	rdone   chan struct{}    // closed when the reader has stopped
	once    sync.Once
	lingerT *time.Timer

	rdl, wdl deadline.Deadline

	wmu     sync.Mutex
	wclosed bool

	rmu sync.Mutex
	cur *mem.Reader // the message being read

	mu   sync.Mutex
	werr error // why the writer stopped
	rerr error // what Read returns once eof is closed
}

func newConn(st stream, local, remote net.Addr) *conn {
	return &conn{
		st: st, local: local, remote: remote,
		wq:    make(chan writeOp, queued),
		done:  make(chan struct{}),
		wdone: make(chan struct{}),
		rq:    make(chan *mem.Reader, queued),
		eof:   make(chan struct{}),
		rdone: make(chan struct{}),
	}
}

// start starts the writer and the reader.
func (c *conn) start() {
	go c.writeLoop()
	go c.readLoop()
}

func (c *conn) writeLoop() {
	defer close(c.wdone)
	for {
		select {
		case op := <-c.wq:
			if err := c.send(op); err != nil {
				c.setWriteErr(err)
				return
			}
		case <-c.done:
			for { // what Write queued before Close goes first
				select {
				case op := <-c.wq:
					if err := c.send(op); err != nil {
						return
					}
					continue
				default:
				}
				break
			}
			if c.client != nil {
				c.endSend()
			}
			return
		}
	}
}

// send sends op, and with it the data queued behind it up to chunkSize in
// all, as one message.
func (c *conn) send(op writeOp) error {
	if op.fin {
		return c.endSend()
	}
	data := op.data
	for n := data.Len(); n < chunkSize; {
		select {
		case next := <-c.wq:
			if next.fin {
				if err := c.st.SendMsg(&message{data: data}); err != nil {
					return err
				}
				return c.endSend()
			}
			data = append(data, next.data...)
			n += next.data.Len()
			continue
		default:
		}
		break
	}
	return c.st.SendMsg(&message{data: data})
}

// endSend ends this end's half of the stream.
func (c *conn) endSend() error {
	if cs, ok := c.st.(grpclib.ClientStream); ok {
		return cs.CloseSend()
	}
	return c.st.SendMsg(&message{data: mem.BufferSlice{}})
}

func (c *conn) setWriteErr(err error) {
	if errors.Is(err, io.EOF) { // the stream is over: the peer ended it
		err = errPeerClosed
	} else {
		err = fmt.Errorf("farpipe: grpc stream broken: %w", err)
	}
	c.mu.Lock()
	c.werr = err
	c.mu.Unlock()
}

func (c *conn) readLoop() {
	defer close(c.rdone)
	eof := false
	for {
		var m message
		err := c.st.RecvMsg(&m)
		if err != nil {
			if !eof {
				c.endRead(err)
			}
			break
		}
		if m.in.Remaining() == 0 { // the listener's CloseWrite
			m.in.Close()
			if !eof {
				eof = true
				c.endRead(io.EOF)
			}
			continue
		}
		if eof {
			m.in.Close() // nothing may follow the end; drop it
			continue
		}
		select {
		case c.rq <- m.in:
		case <-c.done:
			m.in.Close()
		}
	}
	if c.client != nil {
		c.cancel()
		<-c.wdone
		c.client.Close()
		c.mu.Lock()
		if c.lingerT != nil {
			c.lingerT.Stop()
		}
		c.mu.Unlock()
	}
}

// endRead makes Read return err (io.EOF for a clean end) once it has
// returned every byte received before.
func (c *conn) endRead(err error) {
	if !errors.Is(err, io.EOF) {
		err = fmt.Errorf("farpipe: grpc stream broken: %w", err)
	} else {
		err = io.EOF
	}
	c.mu.Lock()
	c.rerr = err
	c.mu.Unlock()
	close(c.eof)
}

func (c *conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	switch {
	case isClosed(c.done):
		return 0, errClosed
	case c.rdl.Expired():
		return 0, os.ErrDeadlineExceeded
	}
	if c.cur == nil {
		if len(p) == 0 {
			return 0, nil
		}
		select {
		case c.cur = <-c.rq:
		case <-c.eof:
			select { // a message handed over at the same time comes first
			case c.cur = <-c.rq:
			default:
				c.mu.Lock()
				defer c.mu.Unlock()
				return 0, c.rerr
			}
		case <-c.done:
			return 0, errClosed
		case <-c.rdl.Wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
	n, _ := c.cur.Read(p)
	if c.cur.Remaining() == 0 {
		c.cur.Close()
		c.cur = nil
	}
	return n, nil
}

func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for {
		switch {
		case isClosed(c.done):
			return n, errClosed
		case c.wclosed:
			return n, errWriteClosed
		case isClosed(c.wdone):
			return n, c.writeErr()
		case c.wdl.Expired():
			return n, os.ErrDeadlineExceeded
		case len(p) == 0:
			return n, nil
		}
		k := min(len(p), chunkSize)
		data := mem.BufferSlice{mem.Copy(p[:k], mem.DefaultBufferPool())}
		select {
		case c.wq <- writeOp{data: data}:
			n += k
			p = p[k:]
		case <-c.done:
			data.Free()
		case <-c.wdone:
			data.Free()
		case <-c.wdl.Wait():
			data.Free()
		}
	}
}

func (c *conn) writeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.werr == nil {
		return errClosed
	}
	return c.werr
}

// CloseWrite ends this end's half of the stream: the peer reads io.EOF
// after the bytes written before, and can still write.
func (c *conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return nil
	}
	select {
	case c.wq <- writeOp{fin: true}:
		c.wclosed = true
		return nil
	case <-c.done:
		return errClosed
	case <-c.wdone:
		return c.writeErr()
	}
}

// Close closes the connection: pending and later Reads and Writes fail,
// and the peer reads io.EOF after the bytes written before. It does not
// wait for the peer.
func (c *conn) Close() error {
	c.once.Do(func() {
		close(c.done)
		if c.client != nil && !isClosed(c.rdone) {
			c.mu.Lock()
			c.lingerT = time.AfterFunc(linger, c.cancel)
			c.mu.Unlock()
		}
	})
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	c.rdl.Set(t)
	c.wdl.Set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.rdl.Set(t)
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.wdl.Set(t)
	return nil
}

// isClosed reports whether c is closed, without blocking.
func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
