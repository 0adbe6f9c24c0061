package fan

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// OutOptions tune Out. The zero value is usable.
type OutOptions struct {
	// BufSize is the size of each read buffer. Default 1 MiB.
	BufSize int
	// Buffers is how many read buffers circulate: with 2 (the default),
	// the source is read into one while the writers write the other.
	Buffers int
	// KeepGoing drops a failed writer and carries on with the others;
	// otherwise Out stops reading at the first failure.
	KeepGoing bool
	// OnError, if set, is called once for each writer that fails, from
	// that writer's goroutine, as soon as it fails. Without KeepGoing it
	// must make the other writers' blocked Writes return (abort them), or
	// Out waits for them.
	OnError func(i int, err error)
}

// Result is what Out did.
type Result struct {
	Read    int64   // bytes read from the source
	ReadErr error   // the source's error, other than io.EOF
	Errs    []error // per writer: why it failed, or nil if it took every byte read
}

// Failed returns how many writers failed.
func (r Result) Failed() int {
	n := 0
	for _, err := range r.Errs {
		if err != nil {
			n++
		}
	}
	return n
}

// errStopped is the error of an Out that stopped because ctx was done.
var errStopped = errors.New("fan: stopped")

type buffer struct {
	b    []byte
	n    int
	refs atomic.Int32 // writers that have not taken it yet
}

// Out reads src until io.EOF (or an error, or ctx's end, checked between
// reads) and writes every byte to each of dsts, in order, at the pace of
// the slowest. It returns once every writer has finished; it never closes
// them. All dsts failing ends the copy too.
func Out(ctx context.Context, src io.Reader, dsts []io.Writer, o OutOptions) Result {
	if o.BufSize <= 0 {
		o.BufSize = 1 << 20
	}
	if o.Buffers <= 0 {
		o.Buffers = 2
	}
	res := Result{Errs: make([]error, len(dsts))}
	if len(dsts) == 0 {
		return res
	}
	free := make(chan *buffer, o.Buffers)
	for range o.Buffers {
		free <- &buffer{b: make([]byte, o.BufSize)}
	}
	var (
		failed  atomic.Int32
		stop    atomic.Bool // a writer failed without KeepGoing
		writers sync.WaitGroup
	)
	release := func(b *buffer) {
		if b.refs.Add(-1) == 0 {
			free <- b // never blocks: there are only o.Buffers buffers
		}
	}
	// A queue never holds more than every buffer, so sending to it never
	// blocks; a failed writer goes on taking (and releasing) its buffers.
	queues := make([]chan *buffer, len(dsts))
	for i, w := range dsts {
		queues[i] = make(chan *buffer, o.Buffers)
		writers.Add(1)
		go func() {
			defer writers.Done()
			for b := range queues[i] {
				if res.Errs[i] == nil {
					if err := writeAll(w, b.b[:b.n]); err != nil {
						res.Errs[i] = err // only this goroutine writes it until writers.Wait
						failed.Add(1)
						if !o.KeepGoing {
							stop.Store(true)
						}
						if o.OnError != nil {
							o.OnError(i, err)
						}
					}
				}
				release(b)
			}
		}()
	}
	res.Read, res.ReadErr = produce(ctx, src, free, queues, func() bool {
		return stop.Load() || int(failed.Load()) == len(dsts)
	})
	for _, q := range queues {
		close(q)
	}
	writers.Wait()
	if errors.Is(res.ReadErr, errStopped) {
		res.ReadErr = context.Cause(ctx)
	}
	return res
}

// produce reads src into free buffers and queues each to every writer,
// until EOF, an error, ctx's end or done().
func produce(ctx context.Context, src io.Reader, free chan *buffer, queues []chan *buffer, done func() bool) (int64, error) {
	var total int64
	for {
		var b *buffer
		select {
		case b = <-free:
		case <-ctx.Done():
			return total, errStopped
		}
		if done() {
			return total, nil
		}
		if ctx.Err() != nil {
			return total, errStopped
		}
		n, err := src.Read(b.b)
		if n > 0 {
			total += int64(n)
			b.n = n
			b.refs.Store(int32(len(queues)))
			for _, q := range queues {
				q <- b
			}
		} else {
			free <- b
		}
		switch {
		case err == io.EOF:
			return total, nil
		case err != nil:
			return total, err
		}
	}
}

// writeAll writes p whole; a short write without an error is
// io.ErrShortWrite.
func writeAll(w io.Writer, p []byte) error {
	n, err := w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}
