//go:build linux

package shm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// hello is the message that carries the memfd from dialer to listener, as
// SCM_RIGHTS.
var hello = []byte("farpshm1")

const (
	// handshakeTimeout bounds how long Accept waits for a connected dialer
	// to send its descriptors; a real dialer sends them at once.
	handshakeTimeout = 5 * time.Second
)

// sockName is the rendezvous socket of NAME, in the abstract namespace.
func sockName(name string) string { return "@farpipe-shm-" + name }

// Dial connects to the listener of NAME on this host, creates the shared
// memory of the connection and hands it over. ctx bounds the connection to
// the rendezvous socket.
func (shmTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if err := validateName(addr); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("farpipe: dial shm://%s: %w", addr, err)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", sockName(addr))
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("farpipe: dial shm://%s: nobody listens on that name on this host: %w", addr, err)
		}
		return nil, fmt.Errorf("farpipe: dial shm://%s: %w", addr, err)
	}
	uc := nc.(*net.UnixConn)
	c, err := dialHandshake(uc, addr, DefaultRingSize)
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("farpipe: dial shm://%s: %w", addr, err)
	}
	return c, nil
}

// dialHandshake creates the memory of a connection and sends it over uc.
// Its errors, like those of createMapping and openMapping, have no
// "farpipe: " prefix: Dial adds it, with the address.
func dialHandshake(uc *net.UnixConn, name string, ringSize int) (*Conn, error) {
	m, memfd, err := createMapping(name, ringSize)
	if err != nil {
		return nil, err
	}
	defer unix.Close(memfd) // the mappings keep the memory alive
	if n, _, err := uc.WriteMsgUnix(hello, unix.UnixRights(memfd), nil); err != nil || n != len(hello) {
		if err == nil {
			err = io.ErrShortWrite
		}
		m.unmap()
		return nil, fmt.Errorf("sending the shared memory to the listener: %w", err)
	}
	return newConn(name, uc, m, true), nil
}

// Listen creates the rendezvous socket of NAME, in the abstract namespace
// of this host's network namespace. Only one listener can have a NAME.
func (shmTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	if err := validateName(addr); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", sockName(addr))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("farpipe: listen shm://%s: another listener has that name on this host: %w", addr, err)
		}
		return nil, fmt.Errorf("farpipe: listen shm://%s: %w", addr, err)
	}
	return &Listener{ul: ln.(*net.UnixListener), addr: Addr{addr}, pending: make(map[*net.UnixConn]bool)}, nil
}

// Listener accepts shared-memory connections on a NAME.
type Listener struct {
	ul   *net.UnixListener
	addr Addr

	mu      sync.Mutex
	closed  bool
	pending map[*net.UnixConn]bool // in handshake; Close closes them
}

// Accept waits for a dialer and maps the memory it sends. A dialer that
// sends something else, or nothing within 5 seconds, is dropped and Accept
// waits for the next one.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		uc, err := l.ul.AcceptUnix()
		if err != nil {
			return nil, fmt.Errorf("farpipe: accept shm://%s: %w", l.addr.Name, err)
		}
		if !l.setPending(uc, true) {
			uc.Close()
			return nil, fmt.Errorf("farpipe: accept shm://%s: %w", l.addr.Name, net.ErrClosed)
		}
		c, err := acceptHandshake(uc, l.addr.Name)
		l.setPending(uc, false)
		if err == nil {
			return c, nil
		}
		uc.Close()
	}
}

// setPending records that uc is in handshake, or no longer; it reports
// false if the listener is closed.
func (l *Listener) setPending(uc *net.UnixConn, pending bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pending {
		l.pending[uc] = true
	} else {
		delete(l.pending, uc)
	}
	return !l.closed
}

// Close stops listening; a pending Accept returns an error. Connections
// already accepted stay open.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.closed = true
	for uc := range l.pending {
		uc.Close()
	}
	l.mu.Unlock()
	if err := l.ul.Close(); err != nil {
		return fmt.Errorf("farpipe: close shm://%s: %w", l.addr.Name, err)
	}
	return nil
}

// Addr returns the listener's NAME.
func (l *Listener) Addr() net.Addr { return l.addr }

// acceptHandshake receives and checks the memfd a dialer sends.
func acceptHandshake(uc *net.UnixConn, name string) (*Conn, error) {
	uc.SetReadDeadline(time.Now().Add(handshakeTimeout))
	buf := make([]byte, len(hello))
	oob := make([]byte, unix.CmsgSpace(4*4)) // room for more than one, to see extras
	n, oobn, flags, _, err := uc.ReadMsgUnix(buf, oob)
	fds := parseRights(oob[:oobn])
	switch {
	case err != nil:
	case n != len(hello) || !bytes.Equal(buf, hello):
		err = fmt.Errorf("the dialer sent %q, not %q", buf[:n], hello)
	case flags&unix.MSG_CTRUNC != 0 || len(fds) != 1:
		err = fmt.Errorf("the dialer sent %d descriptors, want 1", len(fds))
	}
	if err != nil {
		closeFds(fds)
		return nil, err
	}
	m, err := openMapping(fds[0])
	unix.Close(fds[0])
	if err != nil {
		return nil, err
	}
	uc.SetReadDeadline(time.Time{})
	return newConn(name, uc, m, false), nil
}

// parseRights returns the descriptors in the SCM_RIGHTS messages of oob.
func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, msg := range msgs {
		if f, err := unix.ParseUnixRights(&msg); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

// closeFds closes descriptors, ignoring errors.
func closeFds(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
