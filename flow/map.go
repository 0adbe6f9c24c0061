package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// MapConfig says how Map runs jobs. The zero value runs one job per CPU
// and writes outputs in input order.
type MapConfig struct {
	// Jobs is how many jobs run at once (0: runtime.NumCPU()).
	Jobs int
	// Unordered writes each chunk's output as soon as it is ready (its job
	// ended, or its buffer is full) instead of in input order. Outputs are
	// still written whole, never interleaved.
	Unordered bool
	// Window is how many chunks, beyond Jobs, may have ended and wait for
	// their turn to be written (0: Jobs). When the window is full, no new
	// job starts: a slow chunk holds back the input.
	Window int
	// OutputBuffer is how many bytes of a chunk's output are kept in
	// memory before its turn; a job that writes more blocks until its turn
	// comes (0: DefaultBlock).
	OutputBuffer int
	// Hold keeps a chunk's output in memory until its job returns, even
	// when its turn has come, as long as it fits in OutputBuffer: a job
	// that fails can then Discard it and run again (retries). Output
	// beyond OutputBuffer goes out as usual.
	Hold bool
	// KeepGoing lets the other chunks run when a job fails; Map then
	// returns a *FailedError at the end. Without it, the first failure
	// cancels every job and Map returns its *ChunkError.
	KeepGoing bool
}

// Job processes one chunk, writing its result to out. It must return soon
// after ctx is cancelled. It must not keep c or out after it returns.
type Job func(ctx context.Context, c *Chunk, out *Output) error

// Map runs job on every chunk of src, up to Jobs at a time, and writes
// their outputs to w, in input order unless cfg.Unordered. The output of
// the chunk whose turn it is goes straight to w as the job writes it; the
// others are buffered (bounded by OutputBuffer each, and Jobs+Window
// chunks in all), so memory stays about Jobs × (block + OutputBuffer) +
// Window × OutputBuffer whatever the input's size. Nothing is written to
// disk.
//
// Map returns nil when every job succeeded and every output was written;
// the error of src, of w, the *ChunkError of the first failed job (or a
// *FailedError with KeepGoing), or the cause of ctx otherwise. A failed
// job without KeepGoing cancels the others; in order, the outputs of the
// chunks before it that ended well are still written, and nothing after
// it. Map returns only when every job has returned.
func Map(ctx context.Context, src Source, w io.Writer, cfg MapConfig, job Job) error {
	if cfg.Jobs == 0 {
		cfg.Jobs = runtime.NumCPU()
	}
	if cfg.Window == 0 {
		cfg.Window = cfg.Jobs
	}
	if cfg.OutputBuffer == 0 {
		cfg.OutputBuffer = DefaultBlock
	}
	if cfg.Jobs < 0 || cfg.Window < 0 || cfg.OutputBuffer < 0 {
		return fmt.Errorf("%w: jobs %d, window %d and output buffer %d must not be negative", ErrConfig, cfg.Jobs, cfg.Window, cfg.OutputBuffer)
	}
	m := &mapper{w: w, cfg: cfg, job: job,
		run:      make(chan struct{}, cfg.Jobs),
		flight:   make(chan struct{}, cfg.Jobs+cfg.Window),
		ready:    make(chan *Output, cfg.Jobs+cfg.Window),
		prodDone: make(chan struct{}),
	}
	m.ctx, m.cancel = context.WithCancelCause(ctx)
	defer m.cancel(nil)
	go m.produce(src)
	m.emit()
	m.workers.Wait()
	return m.result(ctx)
}

// mapper is the state of one Map. Lock order: Output.mu, then mapper.mu.
type mapper struct {
	w      io.Writer
	cfg    MapConfig
	job    Job
	ctx    context.Context
	cancel context.CancelCauseFunc

	run      chan struct{} // a token per running job
	flight   chan struct{} // a token per chunk not yet written
	ready    chan *Output  // outputs in the order they get their turn
	prodDone chan struct{} // closed when produce returned; total is then set
	total    int64
	workers  sync.WaitGroup

	mu       sync.Mutex
	srcErr   error
	outErr   error
	failed   int64
	first    *ChunkError
	outFirst bool // the output failed before any chunk did
	bufs     sync.Pool
}

func (m *mapper) produce(src Source) {
	defer close(m.prodDone)
	for {
		select {
		case m.flight <- struct{}{}:
		case <-m.ctx.Done():
			return
		}
		select {
		case m.run <- struct{}{}:
		case <-m.ctx.Done():
			<-m.flight
			return
		}
		c, err := src.Next(m.ctx)
		if err != nil {
			<-m.run
			<-m.flight
			if !errors.Is(err, io.EOF) && m.ctx.Err() == nil {
				m.mu.Lock()
				m.srcErr = err
				m.mu.Unlock()
				m.cancel(err)
			}
			return
		}
		o := &Output{m: m, c: c, seq: c.Seq, head: make(chan struct{}), done: make(chan struct{})}
		m.total++
		if !m.cfg.Unordered {
			m.ready <- o // never blocks: at most Jobs+Window outputs exist
		}
		m.workers.Add(1)
		go m.work(o)
	}
}

func (m *mapper) work(o *Output) {
	defer m.workers.Done()
	c := o.c
	err := m.job(m.ctx, c, o)
	seq, off, size := c.Seq, c.Offset, c.Size
	c.Release()
	<-m.run
	o.mu.Lock()
	outFailed := o.outFailed
	o.mu.Unlock()
	if err != nil && m.ctx.Err() == nil && !outFailed {
		ce := &ChunkError{Seq: seq, Offset: off, Size: size, Err: err}
		m.mu.Lock()
		m.failed++
		if m.first == nil {
			m.first = ce
		}
		m.mu.Unlock()
		if !m.cfg.KeepGoing {
			m.cancel(ce)
		}
	}
	o.mu.Lock()
	o.ok = err == nil
	o.mu.Unlock()
	o.finish()
}

// writable reports whether o's output may still be written: always
// before a failure; after the first failed job (without KeepGoing), only
// the whole outputs of chunks before it, so that the output is the
// successful prefix of the input's.
func (m *mapper) writable(o *Output) bool {
	if m.ctx.Err() == nil {
		return true
	}
	o.mu.Lock()
	ok := o.ok
	o.mu.Unlock()
	return ok && m.mayWrite(o.seq)
}

// mayWrite reports whether output of chunk seq may still go to the writer:
// always before a failure; after the first failed job (without KeepGoing)
// only for chunks before it, in order.
func (m *mapper) mayWrite(seq int64) bool {
	if m.ctx.Err() == nil {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.cfg.Unordered && m.outErr == nil && m.srcErr == nil && m.first != nil && seq < m.first.Seq
}

// testHookTurn, when set by a test, is called when an output's turn came
// (whether or not it may be written).
var testHookTurn func(seq int64)

// emit gives each output its turn, in the order of m.ready, until every
// chunk was written (or dropped after a failure).
func (m *mapper) emit() {
	prodDone := m.prodDone
	var emitted int64
	for prodDone != nil || emitted < m.total {
		select {
		case o := <-m.ready:
			o.takeTurn()
			<-m.flight
			emitted++
		case <-prodDone:
			prodDone = nil
		}
	}
}

func (m *mapper) outputFailed(err error) {
	if m.ctx.Err() != nil {
		return // a consequence of the cancel, not the output's failure
	}
	m.mu.Lock()
	if m.outErr == nil {
		m.outErr = fmt.Errorf("farpipe: writing the output: %w", err)
		m.outFirst = m.first == nil
	}
	m.mu.Unlock()
	m.cancel(err)
}

func (m *mapper) result(parent context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.outErr != nil && m.outFirst:
		return m.outErr
	case m.first != nil && !m.cfg.KeepGoing:
		return m.first
	case m.outErr != nil:
		return m.outErr
	case parent.Err() != nil:
		return context.Cause(parent)
	case m.srcErr != nil:
		return m.srcErr
	case m.first != nil:
		return &FailedError{Failed: m.failed, Total: m.total, First: m.first}
	}
	return nil
}

func (m *mapper) getBuf() []byte {
	if p, ok := m.bufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, m.cfg.OutputBuffer)
}

func (m *mapper) putBuf(b []byte) {
	if cap(b) == m.cfg.OutputBuffer {
		b = b[:0]
		m.bufs.Put(&b)
	}
}
