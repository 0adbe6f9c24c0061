// Package flow works on records carried by any io.Reader: it cuts a stream
// into chunks of whole records and runs a job on every chunk in parallel,
// writing the results in input order. It is the layer under farpipe map,
// tee and merge, and knows nothing of the layers above: it imports only the
// standard library.
//
// # Records
//
// A Splitter finds record boundaries. Separator is a literal record end
// (Lines, Null, RecEnd), a literal record start (RecStart), or both; Bytes
// means no records at all: every byte offset is a boundary. SplitFunc turns
// any Splitter into a bufio.SplitFunc for reading one record at a time.
//
// # Chunks
//
// A Chunker reads a stream and returns chunks of about Config.Block bytes
// (1 MiB by default) that always end on a record boundary: a chunk ends at
// the last boundary within the block, and a record longer than the block
// makes a longer chunk instead of being split. With Config.Records every
// chunk is exactly that many records; with Config.Header the first records
// of the input are taken out of the stream and given with every chunk. A
// FileChunker makes the same chunks of a regular file without reading their
// bytes into memory: a chunk names a section of the file, which the
// consumer copies from the file itself (on Linux without a pass through
// user memory). Either way, the header followed by every chunk's records
// concatenated gives back the input, byte for byte.
//
// # Map
//
// Map runs a Job on every chunk of a Source, Jobs at a time, and writes the
// outputs to one io.Writer, each whole, in input order (or as they are
// ready, with Unordered). The output of the chunk whose turn it is goes
// straight through; others wait in memory, each up to OutputBuffer bytes,
// after which their job blocks. A chunk that is slow therefore holds back
// the jobs behind it and, once Jobs+Window chunks are waiting, the reading
// of the input: memory is bounded by about Jobs × (Block + OutputBuffer) +
// Window × OutputBuffer, whatever the size of the input, and nothing is
// written to disk.
//
// Every blocking call takes a context first. Map returns only after every
// goroutine it started has ended.
package flow
