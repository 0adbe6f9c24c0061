// Package farpipe gives Unix-pipe semantics to processes on different hosts.
//
// One side listens and the other dials; which side writes is independent of
// which side listens. Each end holds a *Conn, a net.Conn with the contract of
// a pipe:
//
//   - bytes arrive in order and exactly once, or the reader gets an error:
//     Read returns io.EOF only after the writer's CloseWrite and a verified
//     checksum of the whole stream, never on a truncated stream;
//   - when the reader goes away, the writer's next Write fails with
//     ErrBrokenPipe and learns how many bytes were delivered;
//   - a slow reader slows the writer: at most a window of bytes (8 MiB by
//     default) is in flight, so memory stays bounded on both sides;
//   - delivery means delivered to the peer's application: Drain waits for it.
//
// Addresses are "host:port" or "scheme://address" with a scheme registered
// by a transport (see package transport); "tcp", "unix" and "shm" (Linux) are
// always available. An address may carry the token: "fp://host:port/#TOKEN"
// over TCP, "unix:///path#TOKEN" or "shm://NAME#TOKEN" (a '#' always starts
// the token); Listener.URL returns the listener's address in that form.
//
// WithRole lets each side declare what it is, so that two ends that cannot
// work together (two writers, say) fail the handshake with ErrRole instead
// of waiting for each other. Errors name what happened in the terms of this
// API; test them with errors.Is against the sentinels in errors.go.
//
// The layers below are packages of their own: session (the contract on any
// net.Conn), wire (the frame codec) and transport (how bytes get there).
package farpipe
