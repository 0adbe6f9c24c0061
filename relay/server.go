package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running relay. Its methods are safe for concurrent use.
type Server struct {
	ns  *server.Server
	log *logger
	cfg Config // as given, with StoreDir filled in
	// unlock releases the store's lock, once the server has stopped.
	unlock func()
	// dash serves the page of Config.HTTP; nil without one.
	dash *dash

	stopOnce sync.Once
	stopped  chan struct{} // closed when ns.Shutdown has returned
	done     chan struct{} // closed when the server has stopped, for any reason
}

// readyPoll is how long each check of Start waits for the listeners before
// it looks at ctx and at fatal errors again.
const readyPoll = 50 * time.Millisecond

// Start starts a relay and returns once it accepts connections on every
// listener of cfg; ctx bounds the start (a JetStream store with much to
// recover can take a while), not the server's life: stop it with Shutdown.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.StoreDir == "" {
		d, err := DefaultStoreDir()
		if err != nil {
			return nil, err
		}
		cfg.StoreDir = d
	}
	opts, err := cfg.options(cfg.StoreDir)
	if err != nil {
		return nil, err
	}
	// A listener that is taken is the most common failure: say so before
	// NATS starts (it would only log it), with the system's error.
	if err := checkFree(opts); err != nil {
		return nil, err
	}
	if err := prepareStore(cfg.StoreDir); err != nil {
		return nil, err
	}
	var dashLn net.Listener
	if cfg.HTTP != "" {
		if dashLn, err = listenDash(cfg.HTTP); err != nil {
			return nil, err
		}
	}
	closeDashLn := func() {
		if dashLn != nil {
			dashLn.Close()
		}
	}
	unlock, err := lockStore(cfg.StoreDir)
	if err != nil {
		closeDashLn()
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		closeDashLn()
		unlock()
		return nil, badConfig("%v", err)
	}
	s := &Server{ns: ns, log: newLogger(cfg.Log), cfg: cfg, unlock: unlock,
		stopped: make(chan struct{}), done: make(chan struct{})}
	ns.SetLogger(s.log, false, false)
	go func() { // owned by Shutdown, which waits for done
		ns.WaitForShutdown()
		close(s.done)
	}()
	ns.Start()
	for {
		if err := s.log.fatalErr(); err != nil {
			closeDashLn()
			s.Shutdown(context.Background())
			return nil, err
		}
		if ns.ReadyForConnections(readyPoll) {
			if dashLn != nil {
				token, gen := dashToken(&cfg)
				s.dash = startDash(ns, dashLn, token, gen)
			}
			return s, nil
		}
		if ctx.Err() != nil {
			closeDashLn()
			s.Shutdown(context.Background())
			return nil, fmt.Errorf("farpipe: the relay was not ready for connections when %w", context.Cause(ctx))
		}
	}
}

// checkFree returns the system's error, worded for the user, if one of the
// fixed ports of opts cannot be listened on.
func checkFree(opts *server.Options) error {
	for _, l := range []struct {
		flag, host string
		port       int
	}{
		{"--listen", opts.Host, opts.Port},
		{"--websocket", opts.Websocket.Host, opts.Websocket.Port},
		{"--cluster", opts.Cluster.Host, opts.Cluster.Port},
	} {
		if l.port <= 0 {
			continue // none, or a free one picked by the system
		}
		addr := net.JoinHostPort(l.host, strconv.Itoa(l.port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("farpipe: the relay cannot listen on %s: %w: stop what uses it or give another %s", addr, errors.Unwrap(err), l.flag)
		}
		ln.Close()
	}
	return nil
}

// Shutdown stops the relay: it closes the listeners and every client and
// route connection, lets JetStream flush its store, and waits until the
// server has stopped, or ctx is done (then it returns ctx's error and the
// server goes on stopping; call Shutdown again to wait). Clients of a
// cluster reconnect to another relay. Shutdown is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		go func() { // owned by Shutdown, which waits for stopped
			if s.dash != nil {
				s.dash.close()
			}
			s.ns.Shutdown()
			s.ns.WaitForShutdown()
			s.unlock()
			close(s.stopped)
		}()
	})
	for _, c := range []chan struct{}{s.stopped, s.done} {
		select {
		case <-c:
		case <-ctx.Done():
			return fmt.Errorf("farpipe: the relay has not finished stopping: %w", context.Cause(ctx))
		}
	}
	return nil
}

// Done is closed when the server has stopped, by Shutdown or on its own.
// After Done, call Shutdown to release what is left.
func (s *Server) Done() <-chan struct{} { return s.done }

// ClientURL is the URL for NATS clients on this host: nats://HOST:PORT with
// the actual port, and a loopback address when the relay listens on every
// interface (ReachableURLs gives the addresses for other hosts).
func (s *Server) ClientURL() string {
	return localURL("nats", s.listenHost(s.cfg.Listen), s.ns.ClientURL())
}

// WebSocketURL is the ws:// (or wss://) URL of the WebSocket listener for
// clients on this host, as ClientURL; empty without one.
func (s *Server) WebSocketURL() string {
	if s.cfg.WebSocket == "" {
		return ""
	}
	scheme := "ws"
	if s.cfg.WebSocketTLSCert != "" {
		scheme = "wss"
	}
	return localURL(scheme, s.listenHost(s.cfg.WebSocket), s.ns.WebsocketURL())
}

// ClusterURL is the URL of the route listener, nats://HOST:PORT, for the
// routes of other relays on this host (Config.Routes); empty without one.
func (s *Server) ClusterURL() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return localURL("nats", s.listenHost(s.cfg.Cluster), "nats://"+a.String())
}

// listenHost is the host of a listener address of the Config.
func (s *Server) listenHost(addr string) string {
	if addr == "" {
		return ""
	}
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// localURL is scheme://HOST:PORT with the port of raw (a URL the server
// gave) and host, or loopback when host is a wildcard: a URL that works
// from this host.
func localURL(scheme, host, raw string) string {
	port := ""
	if u, err := url.Parse(raw); err == nil {
		port = u.Port()
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// HTTPURL is the URL of the relay's page on this host (loopback when it
// listens on every interface), http://HOST:PORT/; empty without one.
func (s *Server) HTTPURL() string {
	if s.dash == nil {
		return ""
	}
	return localURL("http", s.listenHost(s.cfg.HTTP), "http://"+s.dash.ln.Addr().String()) + "/"
}

// HTTPLoginURL is HTTPURL with the token of the page when the relay made
// it up (no Token or HTTPToken was given) and the page is reachable from
// other hosts (which put this host's address in place of loopback); else
// HTTPURL.
func (s *Server) HTTPLoginURL() string {
	u := s.HTTPURL()
	if u == "" || !s.dash.gen {
		return u
	}
	h := s.listenHost(s.cfg.HTTP)
	if ip := net.ParseIP(h); strings.EqualFold(h, "localhost") || ip != nil && ip.IsLoopback() {
		return u
	}
	return u + "?token=" + s.dash.token
}

// StoreDir is the directory of the JetStream store.
func (s *Server) StoreDir() string { return s.cfg.StoreDir }

// Name is the server's name in its cluster.
func (s *Server) Name() string { return s.ns.Name() }

// NATS is the embedded server, for what this package does not wrap:
// in-process clients (nats.InProcessServer), monitoring, the number of
// routes. Stop it with Shutdown, not with its own methods.
func (s *Server) NATS() *server.Server { return s.ns }
