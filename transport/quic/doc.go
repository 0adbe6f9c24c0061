// Package quic is the farpipe transport over QUIC, registered under the
// scheme "quic": quic://HOST:PORT, a UDP port. It is for paths where UDP
// passes and TCP suffers: lossy or mobile links (no head-of-line blocking
// between QUIC's packets and the kernel's retransmissions, and a
// connection that survives a change of the dialer's address), or networks
// that let UDP through more readily than new TCP ports.
//
// Importing the package registers the transport:
//
//	import _ "github.com/farpipe/farpipe/transport/quic"
//
// [New] returns the same transport for direct use without the registry.
//
// # Protocol
//
// Every Dial makes its own QUIC connection (quic-go, RFC 9000) from a UDP
// socket of its own, and opens one bidirectional stream on it, which is
// the byte stream of the net.Conn; its first byte, a version (1), is
// consumed by the listener. CloseWrite sends the stream's FIN. Close sends
// the FIN, stops reading (the peer's writes then fail with EPIPE) and
// sends a close notice on a unidirectional stream; the end that closes
// second closes the QUIC connection, so neither loses bytes the other is
// still reading; an end whose peer has not closed within 5 s closes it
// itself. A listener's UDP socket is shared by the connections it
// accepted and closed after the last of them and the listener.
//
// # Security
//
// QUIC cannot run without TLS 1.3. A listener makes a self-signed
// certificate for itself (ECDSA P-256, in memory, never stored) and both
// ends name the ALPN protocol "farpipe"; the dialer does not verify the
// certificate. That outer TLS only hides the bytes from the path: the
// farpipe session inside the stream runs its own TLS 1.3 with the token
// proof, end to end, which is what authenticates the peer, exactly as
// over tcp. See docs/security.md.
//
// # Timeouts
//
// The handshake gives up after 10 s without a reply, a connection after
// 30 s without a packet from the peer, and each end sends a PING after
// 10 s of silence so that NAT bindings stay open. UDP has no "connection
// refused": beside the handshake, Dial sends one byte from a connected UDP
// socket, which sees the ICMP "port unreachable" that quic-go's socket
// does not, so a dial to a port nobody listens on fails at once with an
// error wrapping syscall.ECONNREFUSED (where ICMP is filtered, after the
// handshake timeout). The session layer keeps its own
// keepalives and resumes a broken connection on a new one.
//
// # UDP buffers
//
// quic-go asks for 7 MiB socket buffers and, when the kernel allows less
// (net.core.rmem_max and net.core.wmem_max), prints a warning with the
// standard logger. This package silences that warning unless the
// environment variable QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING is set;
// docs/transports.md says how to raise the limits.
package quic
