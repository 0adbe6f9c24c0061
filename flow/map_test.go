package flow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upper is a job that writes its chunk in upper case, in pieces.
func upper(_ context.Context, c *Chunk, out *Output) error {
	b, err := io.ReadAll(c.Reader())
	if err != nil {
		return err
	}
	b = bytes.ToUpper(b)
	for len(b) > 0 {
		n := min(len(b), 100)
		if _, err := out.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func TestMapOrdered(t *testing.T) {
	in := sampleInput(rand.New(rand.NewPCG(5, 6)), 200000)
	tests := []struct {
		name string
		cfg  Config
		mc   MapConfig
	}{
		{"defaults", Config{Block: 1000}, MapConfig{}},
		{"one job", Config{Block: 1000}, MapConfig{Jobs: 1}},
		{"tiny output buffer", Config{Block: 3000}, MapConfig{Jobs: 4, OutputBuffer: 10, Window: 1}},
		{"tiny blocks", Config{Block: 1}, MapConfig{Jobs: 3}},
		{"records", Config{Records: 5}, MapConfig{Jobs: 3}},
		{"bytes", Config{Split: Bytes{}, Block: 777}, MapConfig{Jobs: 2, OutputBuffer: 500}},
		{"header", Config{Block: 500, Header: 1}, MapConfig{Jobs: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := sequential(t, in, tt.cfg)
			for _, file := range []bool{false, true} {
				var src Source
				var err error
				if file {
					src, err = NewFileChunker(bytes.NewReader(in), 0, int64(len(in)), tt.cfg)
				} else {
					src, err = NewChunker(iotestHalf(bytes.NewReader(in)), tt.cfg)
				}
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				if err := Map(context.Background(), src, &out, tt.mc, upper); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), want) {
					t.Fatalf("file %v: output differs from the sequential run (%d vs %d bytes)", file, out.Len(), len(want))
				}
			}
		})
	}
}

// sequential is the output of upper over every chunk, one after the other.
func sequential(t *testing.T, in []byte, cfg Config) []byte {
	ck, err := NewChunker(bytes.NewReader(in), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, c := range collect(t, ck) {
		body, _ := io.ReadAll(c.Reader())
		b.Write(bytes.ToUpper(body))
	}
	return b.Bytes()
}

// TestMapUnorderedWhole checks that unordered outputs are never interleaved:
// each chunk writes its number on every line of its output.
func TestMapUnorderedWhole(t *testing.T) {
	in := strings.Repeat("x\n", 20000)
	ck, _ := NewChunker(strings.NewReader(in), Config{Block: 100})
	var out bytes.Buffer
	err := Map(context.Background(), ck, &out, MapConfig{Jobs: 4, Unordered: true, OutputBuffer: 64}, func(_ context.Context, c *Chunk, o *Output) error {
		for i := int64(0); i < c.Size/2; i++ {
			if _, err := fmt.Fprintf(o, "%d\n", c.Seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 20000 {
		t.Fatalf("%d lines, want 20000", len(lines))
	}
	seen := map[string]bool{}
	for i := 0; i < len(lines); i += 50 {
		for j := i; j < i+50; j++ {
			if lines[j] != lines[i] {
				t.Fatalf("line %d: chunk %s inside chunk %s", j, lines[j], lines[i])
			}
		}
		if seen[lines[i]] {
			t.Fatalf("chunk %s written twice", lines[i])
		}
		seen[lines[i]] = true
	}
}

var errJob = errors.New("job failed")

func TestMapFailure(t *testing.T) {
	in := strings.Repeat("line\n", 10000)
	job := func(ctx context.Context, c *Chunk, o *Output) error {
		if c.Seq == 7 {
			return errJob
		}
		if c.Seq > 7 {
			<-ctx.Done() // later chunks would run forever without the cancel
			return context.Cause(ctx)
		}
		_, err := c.WriteTo(o)
		return err
	}
	ck, _ := NewChunker(strings.NewReader(in), Config{Block: 50})
	var out bytes.Buffer
	err := Map(context.Background(), ck, &out, MapConfig{Jobs: 3}, job)
	var ce *ChunkError
	if !errors.As(err, &ce) || ce.Seq != 7 || !errors.Is(err, errJob) {
		t.Fatalf("Map: %v, want chunk 7's failure", err)
	}
	if ce.Offset != 7*50 || ce.Size != 50 {
		t.Fatalf("chunk 7 at [%d+%d], want [350+50]", ce.Offset, ce.Size)
	}
	if out.String() != in[:7*50] {
		t.Fatalf("%d bytes written, want the 7 chunks before the failure", out.Len())
	}
}

// TestMapNothingAfterFailure: a job that keeps writing after an earlier
// chunk failed (a command's last output still in its pipe when it is
// killed) writes nothing once its turn comes.
func TestMapNothingAfterFailure(t *testing.T) {
	turns := make(chan int64, 16)
	testHookTurn = func(seq int64) { turns <- seq }
	defer func() { testHookTurn = nil }()
	job := func(ctx context.Context, c *Chunk, o *Output) error {
		switch c.Seq {
		case 1:
			return errJob
		case 2:
			<-ctx.Done() // chunk 1 failed
			for seq := range turns {
				if seq == 2 {
					break
				}
			}
			_, err := o.Write([]byte("late\n"))
			return err
		}
		_, err := c.WriteTo(o)
		return err
	}
	ck, _ := NewChunker(strings.NewReader("a\nb\nc\n"), Config{Block: 2})
	var out bytes.Buffer
	err := Map(context.Background(), ck, &out, MapConfig{Jobs: 3}, job)
	var ce *ChunkError
	if !errors.As(err, &ce) || ce.Seq != 1 {
		t.Fatalf("Map: %v, want chunk 1's failure", err)
	}
	if out.String() != "a\n" {
		t.Fatalf("output %q, want only the chunk before the failure", out.String())
	}
}

func TestMapKeepGoing(t *testing.T) {
	in := strings.Repeat("line\n", 1000)
	ck, _ := NewChunker(strings.NewReader(in), Config{Block: 50})
	var out bytes.Buffer
	err := Map(context.Background(), ck, &out, MapConfig{Jobs: 3, KeepGoing: true}, func(_ context.Context, c *Chunk, o *Output) error {
		if c.Seq%10 == 3 {
			return errJob
		}
		_, err := c.WriteTo(o)
		return err
	})
	var fe *FailedError
	if !errors.As(err, &fe) || fe.Failed != 10 || fe.Total != 100 || !errors.Is(err, errJob) {
		t.Fatalf("Map: %v, want 10 of 100 failed", err)
	}
	if out.Len() != 90*50 {
		t.Fatalf("%d bytes written, want the 90 good chunks' %d", out.Len(), 90*50)
	}
}

type failWriter struct{ n int }

var errOut = errors.New("output gone")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errOut
	}
	return len(p), nil
}

func TestMapOutputError(t *testing.T) {
	ck, _ := NewChunker(strings.NewReader(strings.Repeat("line\n", 10000)), Config{Block: 50})
	err := Map(context.Background(), ck, &failWriter{n: 1000}, MapConfig{Jobs: 2}, upper)
	if !errors.Is(err, errOut) {
		t.Fatalf("Map: %v, want the output's error", err)
	}
	var ce *ChunkError
	if errors.As(err, &ce) {
		t.Fatalf("an output error reported as chunk %d's failure", ce.Seq)
	}
}

func TestMapCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int64
	ck, _ := NewChunker(strings.NewReader(strings.Repeat("line\n", 10000)), Config{Block: 50})
	err := Map(ctx, ck, io.Discard, MapConfig{Jobs: 2}, func(ctx context.Context, c *Chunk, o *Output) error {
		if started.Add(1) == 2 {
			cancel()
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Map: %v, want context.Canceled", err)
	}
}

// TestMapBounded checks that a slow first chunk holds back the input: no
// more than Jobs+Window chunks are read before it ends.
func TestMapBounded(t *testing.T) {
	release := make(chan struct{})
	var read atomic.Int64
	src := &countingSource{n: &read, reached: make(chan struct{})}
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = Map(context.Background(), src, io.Discard, MapConfig{Jobs: 2, Window: 3}, func(ctx context.Context, c *Chunk, o *Output) error {
			if c.Seq == 0 {
				<-release
			}
			return nil
		})
	}()
	<-src.reached // 5 chunks read
	src.released.Store(true)
	close(release)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if n := src.early.Load(); n > 0 {
		t.Fatalf("%d chunks beyond Jobs+Window = 5 read while the first ran", n)
	}
}

// countingSource makes 100 one-byte chunks and counts those read past the
// fifth before released is set.
type countingSource struct {
	n        *atomic.Int64
	reached  chan struct{}
	released atomic.Bool
	early    atomic.Int64
}

func (s *countingSource) Next(context.Context) (*Chunk, error) {
	n := s.n.Add(1)
	switch {
	case n > 100:
		return nil, io.EOF
	case n == 5:
		close(s.reached)
	case n > 5 && !s.released.Load():
		s.early.Add(1)
	}
	return &Chunk{Seq: n - 1, Offset: n - 1, Size: 1, Data: []byte("x")}, nil
}

// TestMapHoldDiscard: with Hold, a job's first attempt can be taken back
// even when its turn has come, as long as it fits in the buffer.
func TestMapHoldDiscard(t *testing.T) {
	in := strings.Repeat("line\n", 2000)
	for _, hold := range []bool{true} {
		ck, _ := NewChunker(strings.NewReader(in), Config{Block: 100})
		var out bytes.Buffer
		err := Map(context.Background(), ck, &out, MapConfig{Jobs: 2, Hold: hold, OutputBuffer: 1000}, func(_ context.Context, c *Chunk, o *Output) error {
			if _, err := o.Write([]byte("attempt 1\n")); err != nil {
				return err
			}
			if !o.Discard() {
				return errors.New("a held output could not be discarded")
			}
			_, err := c.WriteTo(o)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if hold && out.String() != in {
			t.Fatalf("hold: the output is not the input alone")
		}
	}
}
