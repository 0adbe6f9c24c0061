package flow

import (
	"context"
	"io"
	"sync"
)

// Output is where a Job writes the result of its chunk. Until the chunk's
// turn comes, writes are kept in memory (up to MapConfig.OutputBuffer, then
// they block); from then on they go straight to Map's writer. Write and
// ReadFrom must not be called concurrently.
type Output struct {
	m *mapper
	c *Chunk

	head chan struct{} // closed when the chunk's turn comes
	done chan struct{} // closed when the job returned and its output is written

	buf []byte // owned by the job's goroutine until done, then by the emitter

	mu        sync.Mutex
	direct    bool // the turn came: write straight to m.w
	finished  bool // the job returned
	announced bool // (unordered) sent on m.ready
	committed bool // some output went to m.w
	outFailed bool // writing to m.w failed
	ok        bool // the job returned nil
	seq       int64
}

// announce offers the output its turn (unordered). Called with o.mu held.
func (o *Output) announce() {
	if o.m.cfg.Unordered && !o.announced {
		o.announced = true
		o.m.ready <- o // never blocks: at most Jobs+Window outputs exist
	}
}

// Write implements io.Writer.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	if o.buffering() {
		if o.buf == nil {
			o.buf = o.m.getBuf()
		}
		if len(o.buf)+len(p) <= cap(o.buf) {
			o.buf = append(o.buf, p...)
			o.mu.Unlock()
			return len(p), nil
		}
		if !o.direct {
			o.announce()
			o.mu.Unlock()
			if err := o.waitTurn(); err != nil {
				return 0, err
			}
			o.mu.Lock()
		}
	}
	o.mu.Unlock()
	if err := o.flush(); err != nil {
		return 0, err
	}
	n, err := o.m.w.Write(p)
	if err != nil {
		o.writeFailed(err)
	}
	return n, err
}

// buffering reports whether writes go to the buffer. Called with o.mu held.
func (o *Output) buffering() bool {
	return !o.direct || (o.m.cfg.Hold && !o.committed)
}

// ReadFrom implements io.ReaderFrom: once the chunk's turn has come, it
// copies r to Map's writer with io.Copy, so that pipes and files go by
// splice where the platform has it.
func (o *Output) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		o.mu.Lock()
		if !o.buffering() {
			o.mu.Unlock()
			break
		}
		if o.buf == nil {
			o.buf = o.m.getBuf()
		}
		full, direct := len(o.buf) == cap(o.buf), o.direct
		if full && !direct {
			o.announce()
		}
		o.mu.Unlock()
		if full && direct {
			break
		}
		if full {
			if err := o.waitTurn(); err != nil {
				return total, err
			}
			continue
		}
		n, err := r.Read(o.buf[len(o.buf):cap(o.buf)])
		o.buf = o.buf[:len(o.buf)+n]
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	if err := o.flush(); err != nil {
		return total, err
	}
	// io.Copy lets Map's writer read r itself (splice from a pipe to a
	// file or pipe on Linux); an error then counts as the output's.
	n, err := io.Copy(o.m.w, r)
	total += n
	if err != nil {
		o.writeFailed(err)
	}
	return total, err
}

// Discard drops what the job wrote so far, to run it again. It reports
// false when some of it was already written out, so that it cannot be
// taken back.
func (o *Output) Discard() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.committed {
		return false
	}
	o.buf = o.buf[:0]
	return true
}

func (o *Output) waitTurn() error {
	select {
	case <-o.head:
		return nil
	case <-o.m.ctx.Done():
		return context.Cause(o.m.ctx)
	}
}

// flush writes the buffered output out, once the turn has come.
func (o *Output) flush() error {
	o.mu.Lock()
	o.committed = true
	o.mu.Unlock()
	if len(o.buf) == 0 {
		return nil
	}
	_, err := o.m.w.Write(o.buf)
	o.m.putBuf(o.buf)
	o.buf = o.buf[:0:0]
	if err != nil {
		o.writeFailed(err)
	}
	return err
}

func (o *Output) writeFailed(err error) {
	o.mu.Lock()
	o.outFailed = true
	o.mu.Unlock()
	o.m.outputFailed(err)
}

// finish ends the job's part: its output is written now if its turn has
// come, else by takeTurn.
func (o *Output) finish() {
	o.mu.Lock()
	o.finished = true
	direct := o.direct
	o.announce()
	o.mu.Unlock()
	if direct && o.m.writable(o) {
		o.flush()
	}
	close(o.done)
}

// takeTurn lets the output go to Map's writer and waits until all of it
// went (or the Map failed).
//
// After a failure the turn of an output that may no longer be written (see
// mapper.mayWrite) does not open: a job still running writes nothing more
// (its writes that wait for the turn end with the failure), so output a
// command gives after its chunk's failed predecessor never reaches the
// writer.
func (o *Output) takeTurn() {
	o.mu.Lock()
	if o.m.mayWrite(o.seq) {
		o.direct = true
		close(o.head)
	}
	finished := o.finished
	o.mu.Unlock()
	if testHookTurn != nil {
		testHookTurn(o.seq)
	}
	<-o.done
	if finished && o.m.writable(o) {
		o.flush()
	}
	if o.buf != nil {
		o.m.putBuf(o.buf)
		o.buf = nil
	}
}
