// Package grpc is the farpipe transport over one bidirectional gRPC
// stream, registered under the scheme "grpc": grpc://HOST:PORT. It is for
// networks that already route gRPC (service meshes, gRPC-aware load
// balancers and proxies) and let little else through.
//
// Importing the package registers the transport:
//
//	import _ "github.com/farpipe/farpipe/transport/grpc"
//
// [New] returns the same transport for direct use without the registry.
//
// # Protocol
//
// The service is written by hand, so no .proto file or protoc step is
// needed: service "farpipe.Pipe", one bidirectional streaming method
// "Stream" (path /farpipe.Pipe/Stream), content type
// "application/grpc+farpipe". Its messages are raw bytes, passed through
// by a codec of this package without protobuf or a copy. A Write becomes
// messages of at most 256 KiB (gRPC refuses received messages over 4 MiB
// by default); an empty message from the listener means it half-closed
// (CloseWrite), since a gRPC server cannot end its half of a call without
// ending the whole call. The listener sends the response header once the
// stream is queued for Accept, and Dial waits for it, so a dial to
// something that is not a farpipe gRPC listener fails in Dial.
//
// Every Dial opens its own HTTP/2 connection (one gRPC client), so a
// dropped connection fails only its own pipe, and the session layer
// redials it as it would a TCP connection.
//
// # Security
//
// The transport speaks HTTP/2 without TLS (h2c). The farpipe session
// inside it is TLS 1.3 with the token proof, end to end, so nothing in
// between sees or alters the bytes of a pipe; but a proxy that must
// terminate TLS itself, or that only forwards HTTP/2 over TLS, needs TLS
// between it and the listener, which this transport does not do yet.
//
// # Flow control
//
// HTTP/2 flow-control windows are fixed at 4 MiB per stream and per
// connection (gRPC's default starts at 64 KiB and grows by estimating the
// bandwidth-delay product, which on a fast, short path stays small).
// Memory per pipe is bounded by them, whatever the stream's length.
//
// # Errors
//
// Errors from Dial and Listen start with "farpipe: " and wrap the cause:
// errors.Is(err, syscall.ECONNREFUSED) and errors.Is(err, context.Canceled)
// work. A Write after the peer closed returns an error wrapping
// syscall.EPIPE.
package grpc
