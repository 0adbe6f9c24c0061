//go:build linux

package shm

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Errors of Read, Write and CloseWrite. Timeouts are os.ErrDeadlineExceeded
// and a clean end of stream is io.EOF, unwrapped, as for any net.Conn.
var (
	// errClosed: this end was closed.
	errClosed = fmt.Errorf("farpipe: shm: %w", net.ErrClosed)

	// errWriteShut: Write after CloseWrite.
	errWriteShut = fmt.Errorf("farpipe: shm: write after CloseWrite: %w", net.ErrClosed)

	// errPeerClosed: Write after the peer closed its end (EPIPE).
	errPeerClosed = fmt.Errorf("farpipe: shm: the peer closed the connection: %w", syscall.EPIPE)

	// errPeerGone: the peer's process died, or closed the rendezvous
	// socket without closing the connection (ECONNRESET).
	errPeerGone = fmt.Errorf("farpipe: shm: the peer process is gone: %w", syscall.ECONNRESET)
)

// Conn is one end of a shared-memory connection. It is a net.Conn with
// CloseWrite; it is safe for concurrent use, Reads and Writes being
// serialized among themselves.
//
// Lock order: wmu, rmu, memMu (only Close takes more than one).
type Conn struct {
	addr Addr
	sock *net.UnixConn // rendezvous socket, kept open for liveness
	m    *mapping

	rmu sync.Mutex // serializes Reads; guards in.pos
	in  ring       // the ring this end reads
	wmu sync.Mutex // serializes Writes; guards out.pos
	out ring       // the ring this end writes

	rdl, wdl deadline

	// memMu guards unmapped. Read and Write touch the memory under rmu
	// and wmu, which Close takes before it unmaps; the other methods and
	// wake-ups hold memMu for reading while they touch it.
	memMu    sync.RWMutex
	unmapped bool

	closed   atomic.Bool // Close was called
	shut     atomic.Bool // CloseWrite or Close was called
	gone     atomic.Bool // the rendezvous socket reported EOF or an error
	monitorC chan struct{}
}

// newConn builds an end over m. The dialer writes ring 0 and reads ring 1;
// the listener does the opposite. It starts the goroutine that watches sock.
func newConn(name string, sock *net.UnixConn, m *mapping, dialer bool) *Conn {
	rings := [2]ring{
		newRing(&m.hdr.rings[0], m.data(0)),
		newRing(&m.hdr.rings[1], m.data(1)),
	}
	c := &Conn{addr: Addr{name}, sock: sock, m: m, monitorC: make(chan struct{})}
	if dialer {
		c.out, c.in = rings[0], rings[1]
	} else {
		c.in, c.out = rings[0], rings[1]
	}
	go c.monitor()
	return c
}

// monitor reads the rendezvous socket, on which the peer never writes,
// until it fails: the peer closed it or its process died (the kernel closes
// a dead process's descriptors). It then marks the connection gone and
// wakes this end's sleepers, so that nothing waits for a dead peer.
func (c *Conn) monitor() {
	defer close(c.monitorC)
	var b [16]byte
	for {
		if _, err := c.sock.Read(b[:]); err != nil {
			break
		}
	}
	c.gone.Store(true)
	c.wakeSelf()
}

// wakeSelf wakes this end's sleeping Read and Write, so that they look at
// the state again.
func (c *Conn) wakeSelf() {
	wake(&c.in.ctl.readerWaiting)
	wake(&c.out.ctl.writerWaiting)
}

// Read reads up to len(b) bytes, blocking until at least one is available.
// It returns io.EOF once the peer has closed its writing side and every
// byte it wrote has been read, and an error wrapping syscall.ECONNRESET if
// the peer's process died before that.
func (c *Conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closed.Load() {
		return 0, errClosed
	}
	if c.rdl.expired() {
		return 0, os.ErrDeadlineExceeded
	}
	if len(b) == 0 {
		return 0, nil
	}
	r := &c.in
	for {
		n, err := r.readable()
		if err != nil {
			return 0, err
		}
		if n > 0 {
			n = min(n, len(b))
			for off := 0; off < n; off += chunk {
				r.get(b[off:min(off+chunk, n)])
			}
			return n, nil
		}
		// The writer publishes its last head before writerClosed: look
		// at the ring again after seeing the flag.
		if r.ctl.writerClosed.Load() != 0 {
			if n, _ := r.readable(); n > 0 {
				continue
			}
			return 0, io.EOF
		}
		if c.closed.Load() {
			return 0, errClosed
		}
		if c.gone.Load() {
			return 0, errPeerGone
		}
		err = sleep(&r.ctl.readerWaiting, &c.rdl, func() bool {
			return r.ctl.head.Load() != r.pos || r.ctl.writerClosed.Load() != 0 || c.closed.Load() || c.gone.Load()
		})
		if err != nil {
			return 0, err
		}
	}
}

// Write writes all of p, blocking while the ring is full. It fails with an
// error wrapping syscall.EPIPE once the peer has closed, and one wrapping
// syscall.ECONNRESET if its process died. On an error, n bytes were
// written.
func (c *Conn) Write(p []byte) (n int, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wdl.expired() && !c.closed.Load() {
		return 0, os.ErrDeadlineExceeded
	}
	r := &c.out
	for {
		if err := c.writeErr(); err != nil {
			return n, err
		}
		if len(p) == 0 {
			return 0, nil
		}
		free, err := r.writable()
		if err != nil {
			return n, err
		}
		if free > 0 {
			m := min(free, len(p)-n, chunk)
			r.put(p[n : n+m])
			if n += m; n == len(p) {
				return n, nil
			}
			continue
		}
		err = sleep(&r.ctl.writerWaiting, &c.wdl, func() bool {
			return r.ctl.tail.Load() != r.pos-uint64(len(r.buf)) || c.writeErr() != nil
		})
		if err != nil {
			return n, err
		}
	}
}

// writeErr returns why Write cannot go on, if it cannot.
func (c *Conn) writeErr() error {
	switch {
	case c.closed.Load():
		return errClosed
	case c.shut.Load():
		return errWriteShut
	case c.out.ctl.readerClosed.Load() != 0:
		return errPeerClosed
	case c.gone.Load():
		return errPeerGone
	}
	return nil
}

// CloseWrite closes the writing side: the peer reads io.EOF after the
// bytes written so far, and this end can still read. A Write blocked on a
// full ring returns an error.
func (c *Conn) CloseWrite() error {
	if c.shut.Swap(true) {
		if c.closed.Load() {
			return errClosed
		}
		return nil
	}
	// Wake a Write of ours blocked on a full ring.
	if !c.withMem(func() { wake(&c.out.ctl.writerWaiting) }) {
		return errClosed
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return nil // Close has done it
	}
	c.out.ctl.writerClosed.Store(1)
	wake(&c.out.ctl.readerWaiting)
	return nil
}

// Close closes the connection: blocked Reads and Writes of this end
// return, the peer reads io.EOF after the bytes written so far, and its
// Writes fail with EPIPE. Close waits for pending Reads and Writes to
// return, then unmaps the memory.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return errClosed
	}
	c.shut.Store(true)
	c.wakeSelf() // they see closed and return
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.out.ctl.writerClosed.Store(1)
	c.in.ctl.readerClosed.Store(1)
	wake(&c.out.ctl.readerWaiting) // the peer's sleepers
	wake(&c.in.ctl.writerWaiting)
	err := c.sock.Close()
	<-c.monitorC
	c.memMu.Lock()
	c.unmapped = true
	if uerr := c.m.unmap(); err == nil {
		err = uerr
	}
	c.memMu.Unlock()
	if err != nil {
		return fmt.Errorf("farpipe: shm: close: %w", err)
	}
	return nil
}

// withMem runs fn, which touches the shared memory, unless Close has
// unmapped it; it reports whether fn ran.
func (c *Conn) withMem(fn func()) bool {
	c.memMu.RLock()
	defer c.memMu.RUnlock()
	if c.unmapped {
		return false
	}
	fn()
	return true
}

// LocalAddr returns the connection's NAME.
func (c *Conn) LocalAddr() net.Addr { return c.addr }

// RemoteAddr returns the connection's NAME: both ends share it.
func (c *Conn) RemoteAddr() net.Addr { return c.addr }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of pending and future Reads; a zero t
// means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	// A sleeping Read wakes up and takes the new deadline.
	if !c.withMem(func() { wake(&c.in.ctl.readerWaiting) }) {
		return errClosed
	}
	return nil
}

// SetWriteDeadline sets the deadline of pending and future Writes; a zero
// t means none. A Write that times out may have written some bytes.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	if !c.withMem(func() { wake(&c.out.ctl.writerWaiting) }) {
		return errClosed
	}
	return nil
}
