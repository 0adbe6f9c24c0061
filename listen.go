package farpipe

import (
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/farpipe/farpipe/secure"
	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/transport"
)

// Listener accepts farpipe connections. Handshakes run in the background,
// at most WithMaxHandshakes at once (a new connection beyond that drops the
// oldest one still in its handshake), so a slow or hostile client never
// holds up Accept or a legitimate peer; connections that fail their
// handshake are reported to WithErrorLog and dropped.
type Listener struct {
	ln       net.Listener
	scheme   string // the transport's
	o        *options
	acc      *session.Acceptor
	tls      *tls.Config // nil with WithNoEncrypt
	pending  handshakes
	refusing atomic.Bool // StopAccepting was called
	ready    chan *Conn  // handshaken connections waiting for Accept
	ctx      context.Context
	stop     context.CancelFunc // called by Close
	done     <-chan struct{}    // ctx.Done()
	once     sync.Once
	wg       sync.WaitGroup
}

// Listen listens at addr ("host:port", ":port" or "scheme://address") and
// starts accepting connections. Without WithToken or WithCertificates it
// makes up a token: give the peer Listener.URL. ctx bounds setting up the
// listener only.
func Listen(ctx context.Context, addr string, opts ...Option) (*Listener, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	addr, err = o.secureFor(addr, true)
	if err != nil {
		return nil, err
	}
	tc, err := o.security.ServerTLS()
	if err != nil {
		return nil, err
	}
	scheme, _, err := transport.Parse(addr)
	if err != nil {
		return nil, err
	}
	ln, err := transport.Listen(ctx, addr)
	if err != nil {
		return nil, err
	}
	cfg := o.session
	cfg.Auth = o.security.Authenticator()
	l := &Listener{ln: ln, scheme: scheme, o: o, tls: tc, ready: make(chan *Conn), acc: session.NewAcceptor(&cfg)}
	l.acc.SetAdmit(func() error {
		if l.refusing.Load() {
			return refusal("farpipe: this listener is shutting down and takes no new pipe")
		}
		if o.maxSessions > 0 && l.acc.Len() >= o.maxSessions {
			return refusal(fmt.Sprintf("farpipe: busy: this listener serves %d pipe(s) at a time and has no room for another", o.maxSessions))
		}
		return nil
	})
	l.ctx, l.stop = context.WithCancel(context.Background())
	l.done = l.ctx.Done()
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// refusal is the error of a new pipe the listener refused; it matches
// ErrRefused, and its text reaches the peer.
type refusal string

func (r refusal) Error() string        { return string(r) }
func (r refusal) Is(target error) bool { return target == ErrRefused }

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.closed() {
				return
			}
			// Out of file descriptors and the like: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.o.errorLog(err)
			select {
			case <-time.After(delay):
			case <-l.done:
				return
			}
			continue
		}
		delay = 0
		e := l.pending.add(nc, l.o.maxHandshake)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.pending.remove(e)
			l.handshake(nc)
		}()
	}
}

// handshakes is the list of connections whose handshake is under way,
// oldest first. When it is full, the oldest is dropped to make room: a
// stalled or hostile client then cannot keep a legitimate peer out, which
// completes its handshake in a round trip or two.
type handshakes struct {
	mu   sync.Mutex
	list list.List // of net.Conn
}

func (h *handshakes) add(nc net.Conn, max int) *list.Element {
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.list.Len() >= max {
		oldest := h.list.Front()
		oldest.Value.(net.Conn).Close() // its handshake fails and removes it
		h.list.Remove(oldest)
	}
	return h.list.PushBack(nc)
}

func (h *handshakes) remove(e *list.Element) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.list.Remove(e) // a no-op if add already dropped it
}

func (l *Listener) handshake(nc net.Conn) {
	s, err := l.acc.Accept(l.ctx, secure.Server(nc, l.tls))
	if errors.Is(err, session.ErrResumed) {
		return
	}
	if err != nil {
		if !l.closed() {
			l.o.errorLog(err)
		}
		return
	}
	select {
	case l.ready <- newConn(s):
	case <-l.done:
		s.Abort("the listener closed before accepting this connection")
		s.Wait()
	}
}

func (l *Listener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Accept waits for the next connection whose handshake succeeded.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Token returns the token peers must prove they hold (empty with
// certificates and no token).
func (l *Listener) Token() string { return l.o.security.Token }

// URL returns the address of this listener with its token, which Dial (and
// farpipe send/recv) accept as is: "fp://HOST:PORT/#TOKEN" over TCP, and
// "SCHEME://ADDRESS#TOKEN" over another transport, such as
// "unix:///run/x.sock#TOKEN" or "shm://NAME#TOKEN". For a TCP listener on
// every interface, HOST is "localhost": replace it with a name the peer can
// reach. Without a token (certificates only) the address has none.
//
// The address admits as many pipes as the listener accepts: give the
// Listener WithMaxSessions(1) to make it serve one pipe at a time.
func (l *Listener) URL() string { return pipeURL(l.scheme, l.ln.Addr(), l.o.security.Token) }

// StopAccepting makes the listener refuse new connections (the peer is
// told it is shutting down), while it still resumes the sessions it
// already has: the first step of a graceful shutdown, before waiting for
// running sessions and Close.
func (l *Listener) StopAccepting() { l.refusing.Store(true) }

// Close stops listening, abandons handshakes in progress and waits for the
// listener's goroutines to exit. Connections already accepted stay open, but
// can no longer be resumed after a failure: keep the Listener open while
// they run.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		l.stop()
		err = l.ln.Close()
		l.wg.Wait()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}
