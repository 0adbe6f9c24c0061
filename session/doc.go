// Package session implements the farpipe contract on top of any net.Conn.
//
// A Session is created by Client (the dialing side) or Server (the
// listening side), which run the handshake: HELLO frames carry the protocol
// version, each side's role, the session id and a fresh nonce; AUTH frames
// then carry a proof, produced by a pluggable Authenticator, that is bound to
// both HELLOs (and, over TLS, to the TLS session). No data flows before both
// proofs are verified.
//
// A session carries wire.MaxChannels independent Streams. Each direction of
// a stream keeps byte offsets: the writer has written, sent and acked
// offsets, the reader received, consumed and delivered ones. The writer's
// ring buffer holds exactly the bytes written but not yet acknowledged, so
// its size (the window) bounds memory and makes a slow reader slow the
// writer. Acknowledgements are cumulative and mean delivered to the reading
// application, not received by a buffer.
//
// CloseWrite sends FIN with the stream's length and CRC-32C after the last
// byte; the reader returns io.EOF only once its own checksum matches, and
// then acknowledges the FIN, which is what Drain waits for. CloseRead sends
// STOP: the writer's next Write fails with a *BrokenPipeError that says how
// many bytes were delivered. Abort sends ABORT with a reason that the peer's
// operations then report. Keepalives detect a path that went silent.
//
// A session outlives its connection: when the connection fails, the dialer
// (Config.Redial) reconnects with backoff and the listener (an Acceptor)
// keeps the session for Config.ResumeTimeout; a resume handshake proves the
// session's secret, each side resends from the offsets the other reports,
// and nothing is lost or duplicated. An Authenticator that implements
// FrameKeyer makes every frame of an unencrypted connection carry an
// integrity tag.
//
// The session knows nothing of what carries it: it type-asserts the
// connection it was given for optional interfaces (Idler, Corker,
// HandshakeExplainer) that the layers making the connection supply, TLS
// and sockets included. Who reads and who writes a connection is decided
// by one small type, owner, whose invariants its doc comment states.
//
// The frame format is package wire's; docs/protocol.md describes both.
package session
