package flow

import (
	"errors"
	"fmt"
)

// Errors of the package. Match them with errors.Is.
var (
	// ErrConfig: a Config or MapConfig that cannot work (an empty
	// separator, a negative size).
	ErrConfig = errors.New("farpipe: invalid flow configuration")
	// ErrChunkTooBig: a record (or --records N records) would make a chunk
	// bigger than Config.MaxChunk.
	ErrChunkTooBig = errors.New("farpipe: a record is bigger than the chunk limit: check the record separator or raise the limit")
)

// ChunkError is the failure of the job of one chunk.
type ChunkError struct {
	Seq    int64 // the chunk's number, from 0
	Offset int64 // its first byte in the input (after the header)
	Size   int64 // its length in bytes (without the header)
	Err    error // what the job returned
}

func (e *ChunkError) Error() string {
	return fmt.Sprintf("farpipe: chunk %d (bytes %d-%d) failed: %v", e.Seq, e.Offset, e.Offset+e.Size, e.Err)
}

func (e *ChunkError) Unwrap() error { return e.Err }

// FailedError is what Map returns with MapConfig.KeepGoing when chunks
// failed: every other chunk's output was written.
type FailedError struct {
	Failed int64       // how many chunks failed
	Total  int64       // how many chunks there were
	First  *ChunkError // the first failure (in the order the jobs ended)
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("farpipe: %d of %d chunks failed; the first: %v", e.Failed, e.Total, e.First.Err)
}

func (e *FailedError) Unwrap() error { return e.First }
