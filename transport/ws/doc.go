// Package ws is the farpipe transport over WebSocket, registered under the
// schemes "ws" (WebSocket over plain HTTP) and "wss" (over HTTPS), for
// networks that only let HTTP(S) out and for pipes that sit behind a
// reverse proxy beside other services.
//
//	import _ "github.com/farpipe/farpipe/transport/ws"
//
// # Addresses
//
//	ws://HOST[:PORT]/PATH
//	wss://HOST[:PORT]/PATH[?ca=FILE]             to dial
//	wss://HOST[:PORT]/PATH?cert=FILE&key=FILE    to listen
//
// The port defaults to 80 for ws and 443 for wss. PATH is the URL path of
// the WebSocket (letters, digits, '-', '.', '_', '~' and '/'), so that one
// host name can carry farpipe beside other services:
// wss://example.com/farpipe/NAME. A listener serves the WebSocket at PATH
// only; other paths answer 404 and a plain GET of PATH (no upgrade)
// answers 200, as a health check. HOST may be empty to listen on every
// interface: ws://:8080/farpipe/NAME. Port 0 makes Listen pick a free port;
// Listener.Addr tells which.
//
// A wss dialer verifies the server's certificate against the system's CA
// certificates, plus those of the PEM file ca= if given. A wss listener
// needs its certificate chain and key as PEM files, cert= and key=. The
// common deployment is a ws listener on loopback behind a reverse proxy
// (nginx) that terminates TLS and forwards the upgrade: see
// docs/transports.md. The dialer honours HTTPS_PROXY, HTTP_PROXY and
// NO_PROXY, as Go's HTTP client does.
//
// # Security
//
// The outer TLS of wss only protects the hop to the proxy or server. The
// farpipe session above runs its own TLS 1.3 and token proof end to end
// inside the WebSocket, whatever the scheme: a proxy that terminates wss
// sees only ciphertext.
//
// # How it maps onto WebSocket
//
// One connection is one WebSocket with the subprotocol "farpipe"; its bytes
// travel as binary messages (through github.com/coder/websocket's NetConn
// adapter), one message per batch of writes, without compression. Close
// sends what was written and closes the WebSocket with a normal closure,
// which the peer reads as io.EOF; WebSocket has no half-close, so there is
// no CloseWrite (the session layer has its own). Reads and writes are
// buffered (256 KiB each way) by two goroutines per connection, so that
// deadlines fail only the call that hits them, as on a socket: the
// library's adapter closes the WebSocket when a deadline expires during a
// call, and the session layer uses read deadlines to interrupt reads.
//
// # Errors
//
// Errors from Dial and Listen start with "farpipe: " and wrap their cause:
// errors.Is(err, context.Canceled), errors.Is(err, syscall.ECONNREFUSED)
// and errors.As(err, new(*net.OpError)) work. Bad addresses are rejected
// before any system call with an error wrapping transport.ErrBadAddress.
package ws
