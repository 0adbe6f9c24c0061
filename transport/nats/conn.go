package nats

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// A conn is one end of a byte stream over NATS: it reads the messages
// published to its inbox and publishes to its peer's. Every message carries
// a sequence number; one that arrives out of turn (lost or reordered on the
// way) breaks the connection, as a reset breaks a TCP connection, and the
// session above resumes on a new one.
//
// Flow control: each end grants its peer a window of bytes (sent in the
// hello) and reports, in credit messages, how many bytes its reader has
// consumed; a writer never has more than the window unconsumed, so Write
// blocks when the reader does not read, and a receiver drops a peer that
// sends more. Memory on each side is bounded by the window whatever the
// stream's length.
//
// Writes between Cork and Uncork (session.Corker, which TLS's records go
// through) are gathered into whole messages, so that a batch of 16 KiB
// records crosses the relay as messages of the full size; Read copies from
// the received messages and needs no buffer above it (Buffered).
//
// Concurrency: the subscription's callback (one goroutine, owned by
// nats.go, in message order) fills the receive queue; Read and Write may be
// called from other goroutines, Close from any. Locks: wmu (one Write,
// CloseWrite, Cork or Uncork at a time), then mu (the state), then pmu
// (publishing, so that sequence numbers go out in order); mu is never held
// while publishing.
type conn struct {
	s             *shared
	p             *pool
	inbox, peer   string
	local, remote netAddr
	window        uint32 // the credit this end grants
	peerWin       uint32 // the credit the peer grants
	maxMsg        int    // the most data bytes in one message

	sub *natsgo.Subscription // set before any message can arrive

	wmu    sync.Mutex
	corked bool   // guarded by wmu: Write gathers into gather
	gather []byte // guarded by wmu: data written while corked, not yet sent, less than maxMsg bytes

	pmu    sync.Mutex
	outSeq uint64
	wbuf   []byte

	mu      sync.Mutex
	changed chan struct{} // closed, and replaced, when the state below changes

	queue    [][]byte // received, unread data
	inSeq    uint64   // the sequence number due next
	received uint64   // data bytes received in all
	consumed uint64   // data bytes read in all
	granted  uint64   // consumed as last reported to the peer
	eof      bool     // the peer sent kindFin
	peerGone bool     // the peer sent kindClose

	sent    uint64 // data bytes sent in all
	allowed uint64 // the most data bytes the peer lets us send in all
	finSent bool

	err    error // why the connection is broken, if it is
	closed bool

	rdl, wdl time.Time
}

// errPeerClosed is returned by Write when the peer has closed its end.
var errPeerClosed = fmt.Errorf("farpipe: the peer closed the connection: %w", syscall.EPIPE)

func newConn(s *shared, p *pool, a addr, inbox string) *conn {
	maxMsg := max(min(int(s.nc.MaxPayload())-hdrRoom, maxData), 1)
	return &conn{
		s: s, p: p, inbox: inbox, window: defaultWindow, maxMsg: maxMsg,
		local:   netAddr{a.scheme, a.String()},
		remote:  netAddr{a.scheme, a.String()},
		changed: make(chan struct{}),
	}
}

// notifyLocked wakes every Read and Write waiting for a change.
func (c *conn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitLocked waits, with mu unlocked, until the state changes or deadline
// passes. The caller checks its condition and the deadline again.
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

// onMsg is the subscription's callback: it takes the messages of the peer
// in order.
func (c *conn) onMsg(m *natsgo.Msg) {
	cm, err := parseConnMsg(m.Header.Get(hdrKey), m.Data)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.err != nil {
		return
	}
	switch {
	case err != nil:
		c.failLocked(err)
		return
	case cm.seq != c.inSeq:
		c.failLocked(fmt.Errorf("farpipe: message %d of the stream came where %d was due: the relay lost or reordered messages", cm.seq, c.inSeq))
		return
	}
	c.inSeq++
	switch cm.kind {
	case kindData:
		switch {
		case c.eof || c.peerGone:
			c.failLocked(errors.New("farpipe: the peer sent data after the end of its stream"))
			return
		case c.received+uint64(len(cm.data)) > c.granted+uint64(c.window):
			c.failLocked(fmt.Errorf("farpipe: the peer sent more than the %d-byte window allows", c.window))
			return
		}
		c.received += uint64(len(cm.data))
		c.queue = append(c.queue, cm.data)
	case kindCredit:
		if cm.credit > c.sent {
			c.failLocked(fmt.Errorf("farpipe: the peer acknowledged %d bytes, but only %d were sent", cm.credit, c.sent))
			return
		}
		if a := cm.credit + uint64(c.peerWin); a > c.allowed {
			c.allowed = a
		}
	case kindFin:
		c.eof = true
	case kindClose:
		if len(cm.data) > 0 {
			c.failLocked(fmt.Errorf("farpipe: the peer broke the connection (%s): %w", printable(cm.data), syscall.ECONNRESET))
			return
		}
		c.peerGone = true
	}
	c.notifyLocked()
}

// failLocked breaks the connection with err.
func (c *conn) failLocked(err error) {
	if c.err == nil {
		c.err = err
		c.notifyLocked()
	}
}

// fail breaks the connection with err, unless it is closed or broken.
func (c *conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.failLocked(err)
	}
}

// testHook, set only by tests, sees every connection message instead of
// the relay and publishes it, or not, or later.
var testHook atomic.Pointer[func(msg []byte, publish func([]byte) error) error]

// publish sends one message to the peer: a header of kind and the next
// sequence number, then data. The header travels as a NATS message header
// (hdrKey), so that data goes out without being copied here first.
func (c *conn) publish(kind byte, data []byte) error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	var err error
	if h := testHook.Load(); h != nil {
		c.wbuf = append(appendConnHeader(c.wbuf[:0], kind, c.outSeq), data...)
		err = (*h)(c.wbuf, func(b []byte) error {
			if len(b) < connHeader {
				return c.send(b, nil)
			}
			return c.send(b[:connHeader], b[connHeader:])
		})
	} else {
		err = c.send(appendConnHeader(c.wbuf[:0], kind, c.outSeq), data)
	}
	if err != nil {
		err = fmt.Errorf("farpipe: sending to the relay: %w", err)
		c.fail(err)
		return err
	}
	c.outSeq++
	return nil
}

// send publishes one connection message: hdr (kind and sequence number) in
// the NATS header, data as the payload.
func (c *conn) send(hdr, data []byte) error {
	return c.s.nc.PublishMsg(&natsgo.Msg{
		Subject: c.peer,
		Header:  natsgo.Header{hdrKey: []string{hex.EncodeToString(hdr)}},
		Data:    data,
	})
}

func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	for {
		switch {
		case c.closed:
			c.mu.Unlock()
			return 0, net.ErrClosed
		case len(p) == 0:
			c.mu.Unlock()
			return 0, nil
		case len(c.queue) > 0:
			return c.readLocked(p)
		case c.err != nil:
			err := c.err
			c.mu.Unlock()
			return 0, err
		case c.eof || c.peerGone:
			c.mu.Unlock()
			return 0, io.EOF
		case expired(c.rdl):
			c.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		c.waitLocked(c.rdl)
	}
}

// readLocked copies queued data into p, unlocks mu and reports the bytes
// consumed to the peer when a quarter of the window has been read since the
// last report.
func (c *conn) readLocked(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(c.queue) > 0 {
		k := copy(p[n:], c.queue[0])
		n += k
		if k == len(c.queue[0]) {
			c.queue[0] = nil
			c.queue = c.queue[1:]
		} else {
			c.queue[0] = c.queue[0][k:]
		}
	}
	c.consumed += uint64(n)
	var credit []byte
	if c.consumed-c.granted >= uint64(c.window/4) && c.err == nil && !c.eof && !c.peerGone {
		c.granted = c.consumed
		credit = make([]byte, 8)
		binary.BigEndian.PutUint64(credit, c.consumed)
	}
	c.mu.Unlock()
	if credit != nil {
		c.publish(kindCredit, credit) // a failure breaks the connection; the data read stands
	}
	return n, nil
}

// Write sends p, at most maxMsg bytes to a message, once the peer's window
// has room; while corked, it gathers p into whole messages instead.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.corked {
		return c.writeLocked(p)
	}
	n := 0
	for n < len(p) {
		if len(c.gather) == 0 && len(p)-n >= c.maxMsg {
			// A whole message needs no gathering.
			k, err := c.writeLocked(p[n : n+c.maxMsg])
			n += k
			if err != nil {
				return n, err
			}
			continue
		}
		if c.gather == nil {
			c.gather = make([]byte, 0, c.maxMsg)
		}
		k := min(len(p)-n, c.maxMsg-len(c.gather))
		c.gather = append(c.gather, p[n:n+k]...)
		n += k
		if len(c.gather) == c.maxMsg {
			if err := c.flushLocked(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// writeLocked sends p, holding wmu.
func (c *conn) writeLocked(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := c.reserve(len(p) - n)
		if err != nil {
			return n, err
		}
		if err := c.publish(kindData, p[n:n+k]); err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// flushLocked sends what was gathered, holding wmu. NATS copies a message
// as it is published, so gather is free again when it returns.
func (c *conn) flushLocked() error {
	if len(c.gather) == 0 {
		return nil
	}
	_, err := c.writeLocked(c.gather)
	c.gather = c.gather[:0]
	return err
}

// Cork starts gathering writes into whole messages (session.Corker).
func (c *conn) Cork() {
	c.wmu.Lock()
	c.corked = true
	c.wmu.Unlock()
}

// Uncork sends what was gathered and stops gathering (session.Corker).
func (c *conn) Uncork() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.corked = false
	return c.flushLocked()
}

// Buffered reports that Read copies from messages already received
// (transport.Buffered): a buffer above it would only copy them again.
func (c *conn) Buffered() bool { return true }

// reserve waits until the peer's window has room and takes up to want
// bytes of it, at most one message.
func (c *conn) reserve(want int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed:
			return 0, net.ErrClosed
		case c.err != nil:
			return 0, c.err
		case c.finSent:
			return 0, fmt.Errorf("farpipe: write after CloseWrite: %w", syscall.EPIPE)
		case c.peerGone:
			return 0, errPeerClosed
		case expired(c.wdl):
			return 0, os.ErrDeadlineExceeded
		case c.allowed > c.sent:
			k := min(uint64(want), c.allowed-c.sent, uint64(c.maxMsg))
			c.sent += k
			return int(k), nil
		}
		c.waitLocked(c.wdl)
	}
}

// CloseWrite tells the peer that no more data follows: its Read returns
// io.EOF once it has read everything before.
func (c *conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return net.ErrClosed
	case c.err != nil:
		err := c.err
		c.mu.Unlock()
		return err
	case c.finSent:
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if err := c.flushLocked(); err != nil {
		return err
	}
	c.mu.Lock()
	c.finSent = true
	c.mu.Unlock()
	return c.publish(kindFin, nil)
}

// Close tells the peer, stops the subscription and lets go of the NATS
// connection. Pending Reads and Writes return net.ErrClosed.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	tell, why := !c.peerGone, c.err
	c.queue = nil
	c.notifyLocked()
	c.mu.Unlock()
	if tell {
		// Best effort: the peer's keepalive covers a loss. A connection
		// broken on this side is reset on the peer's too, with the
		// reason, so that its session resumes at once.
		var reason []byte
		if why != nil {
			reason = []byte(why.Error())
			if len(reason) > maxReason {
				reason = reason[:maxReason]
			}
		}
		c.publish(kindClose, reason)
	}
	c.sub.Unsubscribe()
	c.s.remove(c)
	c.p.put(c.s)
	return nil
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
