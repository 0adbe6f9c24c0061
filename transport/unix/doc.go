// Package unix is the farpipe transport over Unix domain stream sockets,
// registered under the scheme "unix". It connects processes on the same
// host without the TCP/IP stack, and access is governed by file
// permissions on the socket and its directory.
//
// Importing the package registers the transport:
//
//	import _ "github.com/farpipe/farpipe/transport/unix"
//
// [New] returns the same transport for direct use without the registry.
//
// # Addresses
//
// An address is "unix://" followed by an absolute path, so
// unix:///tmp/farpipe.sock names the socket file /tmp/farpipe.sock (three
// slashes: two for "unix://", one starting the path). [transport.Parse]
// hands the transport the path; ValidateAddr rejects, before any system
// call, an empty path, a relative one, a Linux abstract name (@name), a
// path containing a NUL byte, and a path too long for sun_path (107 bytes
// on Linux and Windows, 103 on macOS and the BSDs, not counting the
// terminating NUL). Errors wrap transport.ErrBadAddress.
//
// # Listening and the socket file
//
// Listen creates the socket file. If something already exists at the path
// (checked with Lstat, so a symbolic link is not followed):
//
//   - a socket that refuses connections is a leftover of a listener that
//     crashed: it is removed and Listen goes on;
//   - a socket that accepts a connection belongs to a live listener, and
//     Listen fails ("another process listens on this socket", wrapping
//     syscall.EADDRINUSE); the probe connection it made is closed at once,
//     so that listener sees one connection that ends without a byte;
//   - anything else (regular file, directory, symbolic link, FIFO, device)
//     is never removed, and Listen fails saying what is in the way
//     (wrapping fs.ErrExist).
//
// Because macOS and the BSDs also refuse connections when a live
// listener's backlog is full, a socket is declared stale only after three
// refused probes 20 ms apart. Two farpipe processes starting on the same
// path at the same moment may both see a stale socket; one of them then
// fails to bind with "address already in use", never both succeed.
//
// Closing the listener removes the socket file, but only if the file at
// the path is still the one this listener created (same device and inode):
// a socket that another process put there after ours was deleted is left
// alone. The listener is a *net.UnixListener with its own Close; AcceptUnix,
// SetDeadline, File and SyscallConn are those of *net.UnixListener.
//
// # Connections
//
// Dial and Accept return *net.UnixConn unwrapped, so callers keep CloseWrite
// (half-close) and the writev path of net.Buffers. There are no socket
// options to set: no Nagle, no keepalive on Unix sockets.
//
// # Platforms
//
// The transport works on every Unix (Linux, macOS, the BSDs...) and on
// Windows 10 version 1803 or later, which has AF_UNIX stream sockets. On
// other platforms (js, wasip1, plan9) the scheme is registered but Dial and
// Listen fail with an error saying Unix sockets are not supported there.
//
// # Errors
//
// Errors from Dial and Listen start with "farpipe: " and wrap the error of
// package net or os, so errors.Is(err, context.Canceled),
// errors.Is(err, syscall.ECONNREFUSED) (on Unix) and
// errors.As(err, new(*net.OpError)) work.
package unix
