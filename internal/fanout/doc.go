// Package fanout copies one stream to many writers at the pace of the
// slowest (Copy), the core of farpipe tee.
//
// Memory is bounded by a few read buffers, whatever the number of writers
// and the length of the stream: each buffer read from the source is written
// to every writer, each in its own goroutine, and is read into again only
// once every writer has taken it. A writer that blocks (a receiver whose
// window is full) therefore holds back the reader, and with it every other
// writer: backpressure from the slowest.
//
// A writer that fails is reported at once to Options.OnError, from its own
// goroutine. Without Options.KeepGoing, Copy then stops reading; the caller
// unblocks the other writers (farpipe tee aborts their sessions) so that
// Copy can return. With it, the failed writer is dropped and the others
// carry on.
//
// The package knows nothing of farpipe sessions: it works on any io.Reader
// and io.Writers.
package fanout
