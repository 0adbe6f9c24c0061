// Package tcp is the farpipe transport over TCP, registered under the scheme
// "tcp". It is also the default: an address written without "://", such as
// 127.0.0.1:7000, means tcp.
//
// Importing the package registers the transport:
//
//	import _ "github.com/farpipe/farpipe/transport/tcp"
//
// [New] returns the same transport for direct use without the registry.
//
// # Addresses
//
// Addresses are HOST:PORT as checked by transport.SplitHostPort:
// 127.0.0.1:7000, [::1]:7000, localhost:7000, or :7000 to listen on every
// interface. Port 0 makes Listen pick a free port; read it back from
// Listener.Addr.
//
// # Socket options
//
// Connections have TCP_NODELAY set, so the frames of the session layer are
// sent without Nagle delay, and the operating system's TCP keepalive is off:
// the session layer sends its own keepalives and decides on its own when a
// silent peer is gone. Connections are returned as *net.TCPConn and
// listeners as *net.TCPListener, unwrapped, so callers can use CloseWrite and
// the zero-copy paths of io.Copy (ReadFrom, splice, sendfile).
//
// # Errors
//
// Errors from Dial and Listen start with "farpipe: " and wrap the error of
// package net, so errors.Is(err, context.Canceled), errors.Is(err,
// syscall.ECONNREFUSED) and errors.As(err, new(*net.OpError)) work. Bad
// addresses are rejected before any system call with an error wrapping
// transport.ErrBadAddress.
package tcp
