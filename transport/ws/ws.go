package ws

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/coder/websocket"

	"github.com/farpipe/farpipe/transport"
)

// Schemes under which this package registers the transport.
const (
	Scheme       = "ws"
	SecureScheme = "wss"
)

// Subprotocol is the WebSocket subprotocol farpipe asks for and answers.
const Subprotocol = "farpipe"

func init() {
	transport.Register(Scheme, New(Scheme))
	transport.Register(SecureScheme, New(SecureScheme))
}

// wsTransport is the transport of one scheme. It has no state.
type wsTransport struct{ scheme string }

// New returns the transport of scheme, "ws" or "wss", for use without the
// registry. It panics on another scheme.
func New(scheme string) transport.Transport {
	if scheme != Scheme && scheme != SecureScheme {
		panic(fmt.Sprintf("farpipe: ws.New(%q): the scheme must be %q or %q", scheme, Scheme, SecureScheme))
	}
	return wsTransport{scheme: scheme}
}

// ValidateAddr checks the syntax of an address without the network.
func (t wsTransport) ValidateAddr(raw string) error {
	_, err := parseAddr(t.scheme, raw)
	return err
}

// Dial opens a WebSocket to the address and returns it as a byte stream.
// ctx bounds the connection and the HTTP upgrade only.
func (t wsTransport) Dial(ctx context.Context, raw string) (net.Conn, error) {
	a, err := parseAddr(t.scheme, raw)
	if err != nil {
		return nil, err
	}
	if a.cert != "" {
		return nil, bad("farpipe: %s://%s: cert and key are for listening; to dial, give at most ?ca=FILE", t.scheme, raw)
	}
	ht, err := a.httpTransport()
	if err != nil {
		return nil, err
	}
	defer ht.CloseIdleConnections()
	// The TCP connection under the WebSocket, for LocalAddr.
	var (
		mu    sync.Mutex
		under net.Conn
	)
	dial := ht.DialContext
	ht.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err == nil {
			mu.Lock()
			under = c
			mu.Unlock()
		}
		return c, err
	}
	ws, resp, err := websocket.Dial(ctx, a.url(), &websocket.DialOptions{
		HTTPClient:      &http.Client{Transport: ht},
		Subprotocols:    []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, dialError(ctx, a, resp, err)
	}
	if ws.Subprotocol() != Subprotocol {
		ws.CloseNow()
		return nil, fmt.Errorf("farpipe: %s answered the WebSocket upgrade but not as farpipe (no %q subprotocol): check the address's path: %w",
			a.url(), Subprotocol, errNotFarpipe)
	}
	ws.SetReadLimit(-1)
	mu.Lock()
	defer mu.Unlock()
	if under == nil { // cannot happen: the upgrade ran on a connection DialContext made
		ws.CloseNow()
		return nil, fmt.Errorf("farpipe: dialing %s: the HTTP client made no connection of its own", a.url())
	}
	return newConn(ws, under, under.LocalAddr(), netAddr{t.scheme, a.String()}), nil
}

// errNotFarpipe is wrapped by the error of a dial whose server speaks
// WebSocket but is not a farpipe listener.
var errNotFarpipe = errors.New("not a farpipe listener")

// dialError is the one-line error of a failed dial.
func dialError(ctx context.Context, a addr, resp *http.Response, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("farpipe: dialing %s: %w (%w)", a.url(), cerr, err)
	}
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("farpipe: dialing %s: the server answered %q instead of a WebSocket upgrade: check the path, and that a proxy in between passes the Upgrade and Connection headers: %w",
			a.url(), resp.Status, err)
	}
	return fmt.Errorf("farpipe: dialing %s: %w", a.url(), err)
}

// httpTransport is the HTTP client transport of one dial: the proxy of
// the environment (HTTPS_PROXY, NO_PROXY), HTTP/1.1 only (the WebSocket
// upgrade), and for wss the system's CA certificates plus those of ?ca=.
func (a addr) httpTransport() (*http.Transport, error) {
	ht := http.DefaultTransport.(*http.Transport).Clone()
	ht.ForceAttemptHTTP2 = false
	ht.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	ht.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if a.ca != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(a.ca)
		if err != nil {
			return nil, fmt.Errorf("farpipe: reading the CA file of %s: %w", a.url(), err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("farpipe: the CA file %s of %s holds no PEM certificate: %w", a.ca, a.url(), transport.ErrBadAddress)
		}
		ht.TLSClientConfig.RootCAs = pool
	}
	return ht, nil
}

// Listen serves WebSockets at the address's path on HOST:PORT (port 0 picks
// a free one; Addr tells which) and returns their byte streams from Accept.
// A wss address needs ?cert=FILE&key=FILE.
func (t wsTransport) Listen(ctx context.Context, raw string) (net.Listener, error) {
	a, err := parseAddr(t.scheme, raw)
	if err != nil {
		return nil, err
	}
	var tc *tls.Config
	switch {
	case a.ca != "":
		return nil, bad("farpipe: %s://%s: ca is for dialing; a wss:// listener takes ?cert=FILE&key=FILE", t.scheme, raw)
	case t.scheme == SecureScheme && a.cert == "":
		return nil, bad("farpipe: %s://%s: a wss:// listener needs its certificate and key: write wss://HOST:PORT/PATH?cert=FILE&key=FILE (or listen on ws:// behind a proxy that terminates TLS)", t.scheme, raw)
	case t.scheme == SecureScheme:
		cert, err := tls.LoadX509KeyPair(a.cert, a.key)
		if err != nil {
			return nil, fmt.Errorf("farpipe: loading the certificate and key of %s://%s: %w", t.scheme, a, err)
		}
		tc = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	}
	lc := net.ListenConfig{KeepAlive: -1}
	tl, err := lc.Listen(ctx, "tcp", a.hostPort)
	if err != nil {
		return nil, fmt.Errorf("farpipe: %w", err)
	}
	return newListener(t.scheme, a.path, tl, tc), nil
}
