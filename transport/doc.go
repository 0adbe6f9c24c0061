// Package transport is how bytes get between two farpipe endpoints.
//
// # Model
//
// A [Transport] has two methods, Dial and Listen, and returns ordinary
// [net.Conn] and [net.Listener] values. It only moves bytes and classifies
// errors: ordering guarantees beyond the connection itself, resume after a
// dropped connection, flow control, keepalives, encryption and
// authentication all live once, in the session layer above. A transport
// therefore stays small, and nothing above this package needs to know which
// transport it runs on.
//
// Transports are chosen by URL scheme, like database/sql drivers. Each
// implementation lives in its own package (transport/tcp, later unix, shm,
// ws, quic...) and calls [Register] from its init function; a program makes
// a transport available by importing its package, blank if need be:
//
//	import _ "github.com/farpipe/farpipe/transport/tcp"
//
// Implementations also export a constructor (for example tcp.New) for
// direct use without the registry.
//
// # Addresses
//
// An address is written "scheme://rest". The scheme names a registered
// transport; rest is given to that transport unchanged, for tcp a HOST:PORT
// such as 127.0.0.1:7000, [::1]:7000, localhost:7000 or :7000 (all
// interfaces, for Listen). An address without "://" means tcp, so
// "127.0.0.1:7000" and "tcp://127.0.0.1:7000" are the same. [Parse] checks
// the syntax before anything touches the network; a transport that
// implements [AddrValidator] gets to check its part too, so a missing port
// is reported as such and not as a DNS failure.
//
// # Errors
//
// Errors made by [Parse], [Dial] and [Listen] are a single line starting
// with "farpipe: " that says what to write instead, and wrap the sentinels
// [ErrUnknownScheme] or [ErrBadAddress] for errors.Is. Errors returned by a
// transport's Dial and Listen also start with "farpipe: " and wrap the
// underlying cause (a *net.OpError, context.Canceled,
// context.DeadlineExceeded, syscall.ECONNREFUSED...), so callers classify
// them with errors.Is and errors.As, never by matching text.
//
// # Conformance
//
// Every transport must pass transporttest.Run, which checks the [net.Conn]
// and [net.Listener] contracts this package relies on: bytes both ways,
// large transfers, EOF on close, Close unblocking Accept and Read, prompt
// failures on cancelled dials and absent listeners, many concurrent
// connections, and golang.org/x/net/nettest.TestConn.
package transport
