package session

import "net"

// Optional interfaces of the connection a session runs on. The layers that
// make the connection (package secure, which adds TLS, and the transports)
// implement what they can; the session uses what it finds by a type
// assertion on the connection it was given, and never looks under it.

// Idler is implemented by a connection that can tell whether a small
// write would return at once: the kernel holds none of its bytes, unsent
// or unacknowledged. A small Write on an idle connection then writes its
// own frame instead of waking the writeLoop, which on a round trip saves a
// switch between goroutines. Idle is never called concurrently.
type Idler interface {
	Idle() bool
}

// Corker is implemented by a connection that can gather what it is given
// into fewer, larger writes (TLS writes a record at a time): between Cork
// and Uncork, writes may be held back; Uncork writes them. The writeLoop
// corks around each batch.
type Corker interface {
	Cork()
	Uncork() error
}

// HandshakeExplainer is implemented by a connection that runs a handshake
// of its own under the session's (TLS). ExplainHandshake returns what err,
// met reading or writing the connection during the session's handshake,
// means when it is a failure of that handshake: an *AuthError when a side
// refused the other's credentials, an error matching ErrEncryption
// when the peer does not encrypt, one matching wire.ErrNotFarpipe when the
// peer is not farpipe at all. It returns nil for anything else (a network
// failure), which the session reports itself.
type HandshakeExplainer interface {
	ExplainHandshake(err error) error
}

// BuffersWriter is implemented by a connection that writes several
// buffers in one call, as writev does, in its own way (package secure
// makes its raw system calls). The writeLoop writes its batches through
// it; otherwise through net.Buffers.WriteTo. WriteBuffers consumes v.
type BuffersWriter interface {
	WriteBuffers(v *net.Buffers) (int64, error)
}
