// Package fan copies one stream to many writers (Out, the core of farpipe
// tee) and many streams of records to one writer (In, the core of farpipe
// merge), with bounded memory and backpressure.
//
// # Fan-out
//
// Out reads a source into a few buffers and writes each buffer to every
// writer, each in its own goroutine; a buffer is read into again only once
// every writer has taken it. A writer that blocks (a receiver whose window
// is full) therefore holds back the reader, and with it every other writer:
// the copy goes at the pace of the slowest, and memory is the buffers,
// whatever the number of writers and the length of the stream.
//
// A writer that fails is reported at once to OutOptions.OnError, from its
// own goroutine. Without OutOptions.KeepGoing, Out then stops reading; the
// caller unblocks the other writers (farpipe tee aborts their sessions) so
// that Out can return. With it, the failed writer is dropped and the others
// carry on.
//
// # Fan-in
//
// An In writes whole records from several readers to one writer, as they
// arrive: each reader's bytes are cut at the last record boundary of what
// has arrived (a Splitter, such as those of package flow, finds it), and
// the whole records are written at once under the In's lock, so records of
// different readers never interleave. The partial record at the end waits
// for the rest of it. Memory is one buffer per reader, which grows only to
// hold a record longer than it, up to a limit. A slow writer holds back
// every reader.
//
// The package knows nothing of farpipe sessions: it works on any io.Reader
// and io.Writers.
package fan
