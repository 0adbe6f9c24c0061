package secure

import (
	"bufio"
	"net"
	"sync"

	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/transport"
)

// corkSize is how much ciphertext a corked connection gathers before it
// writes.
const corkSize = 256 << 10

// corkConn is the connection under TLS. crypto/tls writes each record, at
// most 16 KiB of plaintext, with its own system call; between Cork and
// Uncork corkConn gathers the records and writes them corkSize at a time
// instead: on loopback that is a third less CPU per byte sent. The session
// corks around each batch it writes (session.Corker, through tlsConn); at
// any other time, during the handshake say, writes go straight through.
//
// A connection that gathers writes itself (session.Corker: a relay's
// transport gathers them into messages) is corked instead, and one whose
// reads come from memory (transport.Buffered) is read without a buffer:
// either would only copy the bytes once more.
type corkConn struct {
	net.Conn
	under  session.Corker // the connection's own, or nil
	direct bool           // read the connection without a buffer
	mu     sync.Mutex     // TLS may write an alert or key update from another goroutine
	corked bool
	buf    []byte
	rd     *bufio.Reader
}

func newCorkConn(conn net.Conn) *corkConn {
	c := &corkConn{Conn: conn}
	c.under, _ = conn.(session.Corker)
	b, ok := conn.(transport.Buffered)
	c.direct = ok && b.Buffered()
	return c
}

// Read reads through a corkSize buffer: TLS asks for a record at a time.
func (c *corkConn) Read(p []byte) (int, error) {
	if c.direct {
		return c.Conn.Read(p)
	}
	if c.rd == nil {
		c.rd = bufio.NewReaderSize(c.Conn, corkSize)
	}
	return c.rd.Read(p)
}

// Cork starts gathering writes.
func (c *corkConn) Cork() {
	if c.under != nil {
		c.under.Cork()
		return
	}
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork writes what was gathered and stops gathering.
func (c *corkConn) Uncork() error {
	if c.under != nil {
		return c.under.Uncork()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked()
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	if len(c.buf)+len(p) > corkSize {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= corkSize {
			return c.Conn.Write(p)
		}
	}
	if c.buf == nil {
		c.buf = make([]byte, 0, corkSize)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *corkConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// Unwrap returns the connection under c.
func (c *corkConn) Unwrap() net.Conn { return c.Conn }
