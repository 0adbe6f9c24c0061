package farpipe

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/wire"
)

// Conn is one end of a farpipe: a net.Conn whose bytes arrive in order,
// exactly once, or not at all with an error saying so.
//
// Beyond net.Conn, CloseWrite ends the writing direction (the peer reads
// io.EOF once the checksum of the whole stream has been verified), CloseRead
// ends the reading direction (the peer's writes fail with ErrBrokenPipe),
// and Drain waits until the peer's application has received every byte
// written. A Conn is safe for concurrent use; Close unblocks every pending
// Read and Write.
type Conn struct {
	s  *session.Session
	st *session.Stream
	// With compression (WithCompression), channel 0's bytes go through
	// these; nil otherwise.
	zw *zwriter
	zr *zreader
}

var _ net.Conn = (*Conn)(nil)

func newConn(s *session.Session) *Conn {
	c := &Conn{s: s, st: s.Stream(0)}
	if s.Compression() == wire.CompressZstd {
		c.zw = newZwriter(c.st)
		c.zr = newZreader(s, c.st)
	}
	return c
}

// Compression returns the compression of the Conn's bytes the two sides
// agreed on: "none" or "zstd" (see WithCompression).
func (c *Conn) Compression() string { return c.s.Compression().String() }

// Read reads bytes written by the peer. It returns io.EOF only after the
// peer's CloseWrite (or Close) and a matching checksum of the whole stream.
func (c *Conn) Read(p []byte) (int, error) {
	if c.zr != nil {
		return c.zr.Read(p)
	}
	return c.st.Read(p)
}

// Write writes p, blocking while the window is full (the peer reads slowly).
// After the peer closed its reading side it fails with a *BrokenPipeError.
func (c *Conn) Write(p []byte) (int, error) {
	if c.zw != nil {
		return c.zw.Write(p)
	}
	return c.st.Write(p)
}

// CloseWrite ends the writing direction: the peer reads io.EOF after the
// last byte. Use Drain to wait until the peer has read it all.
func (c *Conn) CloseWrite() error {
	if c.zw != nil {
		if err := c.zw.closeWrite(); err != nil {
			return err
		}
	}
	return c.st.CloseWrite()
}

// CloseRead ends the reading direction: the peer's next write fails with a
// broken pipe that says how many bytes were delivered.
func (c *Conn) CloseRead() error { return c.st.CloseRead() }

// CloseReadWithError ends the reading direction like CloseRead and tells
// the peer why: the peer's next write fails with a *BrokenPipeError whose
// Reason is err's text, as io.PipeReader.CloseWithError passes its error to
// the writer. A receiver that cannot write what it reads (a full disk) uses
// it so that the sender says "could not write its output: no space left on
// device" rather than that the reader stopped. With err nil it is
// CloseRead; after CloseRead it does nothing.
func (c *Conn) CloseReadWithError(err error) error { return c.st.CloseWithError(err) }

// Drain waits until the peer's application has received every byte
// written so far (a byte counts once the peer's Read returned it and the
// peer asked for more) and, after CloseWrite, has read io.EOF with a
// verified checksum. It fails with a *BrokenPipeError if the reader went
// away, an *AbortError if the peer aborted, or ctx's error.
func (c *Conn) Drain(ctx context.Context) error {
	if c.zw != nil {
		if err := c.zw.flush(); err != nil {
			return err
		}
	}
	return c.st.Drain(ctx)
}

// Close closes both directions and returns at once, like closing a TCP
// socket: bytes already written are still delivered in the background
// (bounded by WithLinger), and the peer reads io.EOF after them. Call Drain
// first to know that they arrived.
//
// With compression, Close first ends the compressed frame, unless a Write
// is in progress; that may wait for the window like a Write.
func (c *Conn) Close() error {
	if c.zw == nil {
		return c.s.Close()
	}
	c.zw.close()
	err := c.s.Close()
	c.zw.waitFlushes()
	return err
}

// Abort ends the connection at once in both directions; the peer's pending
// and future operations fail with an *AbortError carrying reason.
func (c *Conn) Abort(reason string) error {
	err := c.s.Abort(reason)
	if c.zw != nil {
		c.zw.close() // fails at once: the session is over
		c.zw.waitFlushes()
	}
	return err
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.s.LocalAddr() }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.s.RemoteAddr() }

// SetDeadline sets the read and write deadlines; see net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	c.st.SetReadDeadline(t)
	return c.st.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for pending and future Reads.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.st.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for pending and future Writes.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.st.SetWriteDeadline(t) }

// Stats describes the traffic of a Conn.
type Stats struct {
	Written   uint64        // bytes written by this side
	Delivered uint64        // of those, confirmed delivered to the peer's application
	Read      uint64        // bytes this side has read
	RTT       time.Duration // last measured round trip, 0 if none yet
	// Reconnects counts resumptions after a failed connection; Resent the
	// bytes this side sent again because of them.
	Reconnects int
	Resent     uint64
	// WireWritten and WireRead count the bytes of the stream as the
	// session carries them: compressed, with compression; else Written and
	// Read.
	WireWritten, WireRead uint64
}

// Stats returns the Conn's counters.
//
// With compression, Written, Delivered and Read count the application's
// bytes (uncompressed; Delivered as far as the compressed bytes delivered
// tell), and WireWritten and WireRead the compressed bytes on the session.
func (c *Conn) Stats() Stats {
	st := c.s.Stats()
	s0 := st.Streams[0]
	r := Stats{Written: s0.Written, Delivered: s0.Delivered, Read: s0.Read, RTT: st.RTT,
		Reconnects: st.Reconnects, Resent: st.Resent, WireWritten: s0.Written, WireRead: s0.Read}
	if c.zw != nil {
		r.Written, r.Delivered = c.zw.stats(s0.Delivered)
		r.Read = c.zr.n.Load()
	}
	return r
}

// Done is closed when the connection has ended, cleanly or not; Err then
// says why.
func (c *Conn) Done() <-chan struct{} { return c.s.Done() }

// Err returns the error that ended the connection, or nil.
func (c *Conn) Err() error { return c.s.Err() }

// Wait waits for the connection's goroutines to exit once it has ended.
// After Abort, that is until the peer has closed its side, having read the
// reason (or for at most a second): a process that exits sooner may reset
// the connection and lose the reason on its way.
func (c *Conn) Wait() { c.s.Wait() }

// ReadFrom copies r into the connection until r's EOF, reading straight
// into the send buffer (io.Copy(conn, r) uses it). It does not close the
// writing direction.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if c.zw != nil {
		return c.zw.ReadFrom(r)
	}
	return c.st.ReadFrom(r)
}

// WriteTo copies the connection to w until the verified end of the stream,
// straight from the receive buffer (io.Copy(w, conn) uses it); a byte
// counts as delivered once w has accepted it. It returns nil at the end.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if c.zr != nil {
		return c.zr.WriteTo(w)
	}
	return c.st.WriteTo(w)
}

// Channel is one of a connection's independent byte channels. Channel 0 is
// the Conn itself; the others (1 to 3) serve protocols on top of farpipe,
// such as a remote command's standard error and control messages.
type Channel = session.Stream

// Channel returns channel id, 0 to 3; channel 0 is what the Conn's own
// methods read and write.
func (c *Conn) Channel(id int) *Channel { return c.s.Stream(id) }
