// Package wire is the frame codec of the farpipe protocol.
//
// Every frame is a fixed 16-byte Header followed by Header.Length payload
// bytes. The header carries the protocol version, so a peer of another
// version is rejected on its first frame with a clear error, and every limit
// (payload size per type, channel range, known flags) is checked by
// ParseHeader before a single payload byte is read or allocated.
//
// The handshake payloads (Hello, Auth) use tag-length-value fields, so new
// fields can be added without a new protocol version. The full byte layout
// is documented in docs/protocol.md.
//
// This package only encodes and decodes: what frames mean is the business of
// package session.
package wire
