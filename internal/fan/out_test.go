package fan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{7}).Read(b)
	return b
}

// smallReads returns at most max bytes per Read, varying.
type smallReads struct {
	r   io.Reader
	rng *rand.Rand
	max int
}

func (s *smallReads) Read(p []byte) (int, error) {
	n := 1 + s.rng.IntN(s.max)
	return s.r.Read(p[:min(len(p), n)])
}

var errBoom = errors.New("boom")

// failAfter accepts n bytes, then fails.
type failAfter struct {
	n   int
	got bytes.Buffer
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.got.Len()+len(p) > f.n {
		return 0, errBoom
	}
	return f.got.Write(p)
}

func TestOut(t *testing.T) {
	data := randomData(3<<20 + 12345)
	sum := sha256.Sum256(data)
	tests := []struct {
		name       string
		writers    int
		failing    int // index of a writer that fails after 1 MiB, -1: none
		keepGoing  bool
		bufSize    int
		wantFailed int
	}{
		{"three writers", 3, -1, false, 64 << 10, 0},
		{"one writer, tiny buffers", 1, -1, false, 100, 0},
		{"one fails, keep going", 3, 1, true, 64 << 10, 1},
		{"one fails, stop", 3, 0, false, 64 << 10, 1},
		{"the only one fails", 1, 0, true, 64 << 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			aborted := map[int]bool{}
			bufs := make([]*bytes.Buffer, tt.writers)
			pipes := make([]*io.PipeWriter, tt.writers)
			dsts := make([]io.Writer, tt.writers)
			var readers sync.WaitGroup
			for i := range dsts {
				if i == tt.failing {
					dsts[i] = &failAfter{n: 1 << 20}
					continue
				}
				pr, pw := io.Pipe()
				bufs[i], pipes[i], dsts[i] = new(bytes.Buffer), pw, pw
				readers.Add(1)
				go func() {
					defer readers.Done()
					io.Copy(bufs[i], pr)
				}()
			}
			src := &smallReads{r: bytes.NewReader(data), rng: rand.New(rand.NewPCG(1, 2)), max: 200 << 10}
			res := Out(context.Background(), src, dsts, OutOptions{BufSize: tt.bufSize, KeepGoing: tt.keepGoing,
				OnError: func(i int, err error) {
					if tt.keepGoing {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					for j, p := range pipes {
						if j != i && p != nil {
							aborted[j] = true
							p.CloseWithError(errors.New("aborted"))
						}
					}
				}})
			for _, p := range pipes {
				if p != nil {
					p.Close()
				}
			}
			readers.Wait()
			if res.ReadErr != nil {
				t.Fatalf("read error %v", res.ReadErr)
			}
			if tt.failing >= 0 && !errors.Is(res.Errs[tt.failing], errBoom) {
				t.Errorf("writer %d: error %v, want %v", tt.failing, res.Errs[tt.failing], errBoom)
			}
			for i, b := range bufs {
				switch {
				case b == nil || aborted[i]:
				case res.Errs[i] != nil:
					t.Errorf("writer %d failed: %v", i, res.Errs[i])
				case sha256.Sum256(b.Bytes()) != sum:
					t.Errorf("writer %d got %d bytes that differ from the %d read", i, b.Len(), len(data))
				}
			}
			if tt.keepGoing && tt.writers > 1 && res.Read != int64(len(data)) {
				t.Errorf("read %d bytes, want all %d", res.Read, len(data))
			}
			// An aborted writer fails if it was writing, or had more to write.
			if got := res.Failed(); got < tt.wantFailed || got > tt.wantFailed+len(aborted) {
				t.Errorf("%d writers failed, want %d (and up to %d aborted)", got, tt.wantFailed, len(aborted))
			}
		})
	}
}

// gated writes only when the test lets it, one Write per token.
type gated struct {
	tokens  chan struct{}
	written atomic.Int64
}

func (g *gated) Write(p []byte) (int, error) {
	<-g.tokens
	g.written.Add(int64(len(p)))
	return len(p), nil
}

// fast checks on every Write that it is never more than limit bytes ahead
// of slow.
type fast struct {
	slow    *gated
	limit   int64
	written int64
	ahead   int64 // the most it was ahead
}

func (f *fast) Write(p []byte) (int, error) {
	f.written += int64(len(p))
	f.ahead = max(f.ahead, f.written-f.slow.written.Load())
	return len(p), nil
}

// TestBackpressure: a slow writer holds back the reader, so a fast writer
// is never more than the buffers ahead of it.
func TestBackpressure(t *testing.T) {
	const bufSize, buffers = 1000, 2
	data := randomData(200 * bufSize)
	slow := &gated{tokens: make(chan struct{})}
	f := &fast{slow: slow, limit: buffers * bufSize}
	done := make(chan Result, 1)
	go func() {
		done <- Out(context.Background(), bytes.NewReader(data), []io.Writer{f, slow}, OutOptions{BufSize: bufSize, Buffers: buffers})
	}()
	var res Result
loop:
	for {
		select {
		case slow.tokens <- struct{}{}:
		case res = <-done:
			break loop
		}
	}
	if res.Read != int64(len(data)) || res.Failed() != 0 {
		t.Fatalf("read %d of %d bytes, %d writers failed", res.Read, len(data), res.Failed())
	}
	if f.ahead > f.limit {
		t.Errorf("the fast writer got %d bytes ahead of the slow one; the buffers allow %d", f.ahead, f.limit)
	}
}

// TestCancel: a cancelled context stops the copy between reads.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("interrupted")
	w := writerFunc(func(p []byte) (int, error) {
		cancel(cause)
		return len(p), nil
	})
	res := Out(ctx, bytes.NewReader(randomData(1<<20)), []io.Writer{w}, OutOptions{BufSize: 1000})
	if !errors.Is(res.ReadErr, cause) || res.Read >= 1<<20 {
		t.Fatalf("read %d bytes, error %v; want an early stop with %v", res.Read, res.ReadErr, cause)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
