package ws

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// headerTimeout bounds how long a client may take to send its HTTP request
// (and, for wss, its TLS handshake) before the listener drops it.
const headerTimeout = 10 * time.Second

// listener serves WebSockets at one path of an HTTP server on a TCP
// listener. Every other path answers 404; a plain GET of the path (no
// upgrade) answers 200, for health checks of a proxy or load balancer.
//
// Goroutines: the HTTP server's Serve (waited for through serveDone) and
// its per-connection goroutines; the handlers that upgrade a request are
// counted in handlers, which Close waits for. mu guards closing and the
// Add of handlers, so that no handler starts after Close began waiting.
type listener struct {
	path      string
	addr      netAddr
	srv       *http.Server
	accepted  chan net.Conn
	done      chan struct{} // closed by Close
	serveDone chan struct{} // closed when Serve returns
	closeOnce sync.Once

	mu       sync.Mutex
	closing  bool
	handlers sync.WaitGroup
}

func newListener(scheme, path string, tl net.Listener, tc *tls.Config) *listener {
	l := &listener{
		path:      path,
		addr:      netAddr{scheme, tl.Addr().String() + path},
		accepted:  make(chan net.Conn),
		done:      make(chan struct{}),
		serveDone: make(chan struct{}),
	}
	l.srv = &http.Server{
		Handler:           l,
		ReadHeaderTimeout: headerTimeout,
		ErrorLog:          log.New(io.Discard, "", 0), // bad clients are not the listener's errors
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, underKey{}, c)
		},
	}
	ln := tl
	if tc != nil {
		ln = tls.NewListener(tl, tc)
	}
	go func() {
		defer close(l.serveDone)
		l.srv.Serve(ln)
	}()
	return l
}

// ServeHTTP upgrades requests for the path to WebSockets and hands them to
// Accept.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != l.path {
		http.NotFound(w, r)
		return
	}
	if !strings.Contains(strings.ToLower(r.Header.Get("Upgrade")), "websocket") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "farpipe: a farpipe WebSocket listener is here; dial it with farpipe")
		return
	}
	if !l.enter() {
		http.Error(w, "farpipe: the listener is closing", http.StatusServiceUnavailable)
		return
	}
	defer l.handlers.Done()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:    []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept answered with the HTTP error
	}
	ws.SetReadLimit(-1)
	under, _ := r.Context().Value(underKey{}).(net.Conn)
	c := newConn(ws, under, l.addr, remoteAddr(r.RemoteAddr))
	select {
	case l.accepted <- c:
	case <-l.done:
		c.Close()
	}
}

// underKey is the context key of the connection under a request.
type underKey struct{}

// enter counts a handler in, unless the listener is closing.
func (l *listener) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.handlers.Add(1)
	return true
}

// remoteAddr is the peer's address as net/http gives it, as a *net.TCPAddr
// when it parses.
func remoteAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return netAddr{"tcp", s}
}

// Accept waits for the next WebSocket.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accepted:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("farpipe: accepting on %s://%s: %w", l.addr.network, l.addr, net.ErrClosed)
	}
}

// Close stops the HTTP server, which closes the TCP listener and the
// connections not yet upgraded, and waits for Serve and the handlers.
// WebSockets already accepted stay open.
func (l *listener) Close() error {
	err := fmt.Errorf("farpipe: closing %s://%s: %w", l.addr.network, l.addr, net.ErrClosed)
	l.closeOnce.Do(func() {
		err = nil
		close(l.done)
		l.srv.Close()
		<-l.serveDone
		l.mu.Lock()
		l.closing = true
		l.mu.Unlock()
		l.handlers.Wait()
	})
	return err
}

// Addr is HOST:PORT/PATH, with the port chosen if the address gave 0.
func (l *listener) Addr() net.Addr { return l.addr }
