// Package brokertest is the conformance suite of broker drivers: a driver
// that passes RunConformanceTests gives pub and sub their guarantees.
package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/flow"
)

// Harness makes streams for the tests.
type Harness struct {
	// Open opens a new, empty stream with cfg; the test closes it.
	Open func(t *testing.T, cfg broker.StreamConfig) broker.Stream
	// Full says that the driver enforces StreamConfig.MaxBytes.
	Full bool
}

// timeout bounds every test.
const timeout = 2 * time.Minute

// RunConformanceTests runs the suite against h.
func RunConformanceTests(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"FanIn", testFanIn},
		{"RestartSameID", testRestart},
		{"Durable", testDurable},
		{"SubFile", testSubFile},
		{"From", testFrom},
		{"Follow", testFollow},
		{"Full", testFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, h Harness, cfg broker.StreamConfig) broker.Stream {
	s := h.Open(t, cfg)
	t.Cleanup(func() { s.Close() })
	return s
}

// Lines returns n records "ID SEQ PADDING\n" of about size bytes each.
func Lines(id string, n, size int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s %d ", id, i)
		for b.Len()%size != size-1 && size > 1 {
			b.WriteByte('x' + byte(i%3))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func pub(t *testing.T, s broker.Stream, in []byte, cfg broker.PubConfig) broker.PubStats {
	t.Helper()
	st, err := broker.Pub(ctxFor(t), s, bytes.NewReader(in), cfg)
	if err != nil {
		t.Fatalf("Pub: %v", err)
	}
	return st
}

func sub(t *testing.T, s broker.Stream, o broker.SubOptions) []byte {
	t.Helper()
	var out bytes.Buffer
	if _, err := broker.Sub(ctxFor(t), s, &out, o); err != nil {
		t.Fatalf("Sub: %v", err)
	}
	return out.Bytes()
}

func testRoundTrip(t *testing.T, h Harness) {
	big := bytes.Repeat([]byte("0123456789"), 30000) // pieces
	for _, tt := range []struct {
		name  string
		in    []byte
		split flow.Splitter
		max   int
	}{
		{"lines", Lines("a", 5000, 100), nil, 0},
		{"no final newline", []byte("one\ntwo\nthree"), nil, 0},
		{"long records", append(append(Lines("a", 10, 50), append(big, '\n')...), Lines("b", 10, 50)...), nil, 0},
		{"long last record", append(Lines("a", 3, 10), big...), nil, 0},
		{"nul", []byte("a\x00bb\x00ccc\x00"), flow.Null(), 0},
		{"recend across pieces", bytes.Repeat([]byte("abcdefgh<END>"), 500), flow.RecEnd("<END>"), 100},
		{"small messages", Lines("a", 2000, 37), nil, 100},
		{"one byte", []byte("x"), nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, h, broker.StreamConfig{})
			pub(t, s, tt.in, broker.PubConfig{ID: "p1", Split: tt.split, MaxMessage: tt.max})
			if out := sub(t, s, broker.SubOptions{}); !bytes.Equal(out, tt.in) {
				t.Fatalf("sub wrote %d bytes, pub read %d: they differ", len(out), len(tt.in))
			}
		})
	}
}

// CheckLabeled checks labeled records "ID\tID SEQ ...\n": every publisher's
// records 0 to n-1, each once and in order. It returns a description of the
// first fault, or "".
func CheckLabeled(out []byte, ids []string, n int) string {
	next := map[string]int{}
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if line == "" {
			continue
		}
		label, rec, ok := strings.Cut(line, "\t")
		var id string
		var seq int
		if _, err := fmt.Sscanf(rec, "%s %d ", &id, &seq); !ok || err != nil || id != label || !strings.HasSuffix(rec, "\n") {
			return fmt.Sprintf("a broken record %.60q", line)
		}
		if seq != next[id] {
			return fmt.Sprintf("publisher %s: record %d where %d was due", id, seq, next[id])
		}
		next[id]++
	}
	for _, id := range ids {
		if next[id] != n {
			return fmt.Sprintf("publisher %s: %d records of %d", id, next[id], n)
		}
	}
	return ""
}

func testFanIn(t *testing.T, h Harness) {
	s := open(t, h, broker.StreamConfig{})
	ids := []string{"p0", "p1", "p2"}
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Records of different sizes, some longer than a message.
			_, err := broker.Pub(ctxFor(t), s, bytes.NewReader(Lines(id, n, 50+300*i)), broker.PubConfig{ID: id, MaxMessage: 512})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if msg := CheckLabeled(sub(t, s, broker.SubOptions{Label: true}), ids, n); msg != "" {
		t.Fatal(msg)
	}
}

func testRestart(t *testing.T, h Harness) {
	in := Lines("p", 2000, 80)
	long := bytes.Repeat([]byte("L"), 3000) // a record in pieces
	in = append(append(in, append(long, '\n')...), Lines("q", 100, 80)...)
	s2 := open(t, h, broker.StreamConfig{})
	first := Lines("p", 1000, 80)
	pub(t, s2, first, broker.PubConfig{ID: "p", MaxMessage: 1000})
	st := pub(t, s2, in, broker.PubConfig{ID: "p", MaxMessage: 1000})
	if st.Skipped != 1000 {
		t.Errorf("the second run skipped %d records, want 1000", st.Skipped)
	}
	st = pub(t, s2, in, broker.PubConfig{ID: "p", MaxMessage: 1000})
	if st.Records != 0 {
		t.Errorf("a third run of the same input stored %d records, want 0", st.Records)
	}
	if out := sub(t, s2, broker.SubOptions{}); !bytes.Equal(out, in) {
		t.Fatalf("after restarts, sub wrote %d bytes, want the input's %d", len(out), len(in))
	}
	// Append: the input is new records.
	pub(t, s2, []byte("new\n"), broker.PubConfig{ID: "p", Append: true})
	if out := sub(t, s2, broker.SubOptions{}); !bytes.Equal(out, append(in, "new\n"...)) {
		t.Fatalf("after an append, sub wrote %q at the end", out[max(0, len(out)-20):])
	}
}

func testDurable(t *testing.T, h Harness) {
	s := open(t, h, broker.StreamConfig{})
	a, b := Lines("a", 500, 60), Lines("b", 500, 60)
	pub(t, s, a, broker.PubConfig{ID: "a"})
	o := broker.SubOptions{SubConfig: broker.SubConfig{Durable: "d1"}}
	if out := sub(t, s, o); !bytes.Equal(out, a) {
		t.Fatalf("the first read got %d bytes, want %d", len(out), len(a))
	}
	pub(t, s, b, broker.PubConfig{ID: "b"})
	if out := sub(t, s, o); !bytes.Equal(out, b) {
		t.Fatalf("the durable read again %d bytes, want only the %d new", len(out), len(b))
	}
	if out := sub(t, s, o); len(out) != 0 {
		t.Fatalf("at the end, the durable read %d bytes", len(out))
	}
}

func testFrom(t *testing.T, h Harness) {
	s := open(t, h, broker.StreamConfig{})
	pub(t, s, []byte("one\n"), broker.PubConfig{ID: "a"})
	pub(t, s, []byte("two\n"), broker.PubConfig{ID: "a", Append: true})
	for _, tt := range []struct {
		name string
		cfg  broker.SubConfig
		want string
	}{
		{"start", broker.SubConfig{From: broker.FromStart}, "one\ntwo\n"},
		{"new", broker.SubConfig{From: broker.FromNew}, ""},
		{"seq 2", broker.SubConfig{From: broker.FromSeq, Seq: 2}, "two\n"},
		{"seq after end", broker.SubConfig{From: broker.FromSeq, Seq: 9}, ""},
		{"time long ago", broker.SubConfig{From: broker.FromTime, Time: time.Now().Add(-time.Hour)}, "one\ntwo\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if out := sub(t, s, broker.SubOptions{SubConfig: tt.cfg}); string(out) != tt.want {
				t.Fatalf("got %q, want %q", out, tt.want)
			}
		})
	}
}

// lineWriter signals every line written.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for range bytes.Count(p, []byte("\n")) {
		w.lines <- struct{}{}
	}
	return len(p), nil
}

func testFollow(t *testing.T, h Harness) {
	s := open(t, h, broker.StreamConfig{})
	ctx, cancel := context.WithCancel(ctxFor(t))
	w := &lineWriter{lines: make(chan struct{}, 100)}
	done := make(chan error, 1)
	go func() {
		_, err := broker.Sub(ctx, s, w, broker.SubOptions{SubConfig: broker.SubConfig{Follow: true, From: broker.FromStart}})
		done <- err
	}()
	want := Lines("f", 10, 20)
	pub(t, s, want, broker.PubConfig{ID: "f"})
	for range 10 {
		<-w.lines
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled Sub returned %v, want context.Canceled", err)
	}
	if got := w.buf.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("a following Sub wrote %q, want %q", got, want)
	}
}

func testFull(t *testing.T, h Harness) {
	if !h.Full {
		t.Skip("the driver does not enforce MaxBytes")
	}
	s := open(t, h, broker.StreamConfig{MaxBytes: 64 << 10})
	in := Lines("p", 5000, 100) // 500 kB
	// A reader of uneven reads makes messages of uneven sizes: a smaller
	// one may fit after a larger one was refused, and must be removed.
	st, err := broker.Pub(ctxFor(t), s, &unevenReader{b: in}, broker.PubConfig{ID: "p", MaxMessage: 4096})
	if !errors.Is(err, broker.ErrFull) {
		t.Fatalf("Pub into a full stream returned %v, want ErrFull", err)
	}
	out := sub(t, s, broker.SubOptions{})
	if !bytes.HasPrefix(in, out) || uint64(bytes.Count(out, []byte("\n"))) != st.Records || len(out) == 0 {
		t.Fatalf("a full stream holds %d bytes, not a prefix of the input with the %d records Pub said were stored", len(out), st.Records)
	}
}

// unevenReader returns reads of 1 to 8000 bytes.
type unevenReader struct {
	b []byte
	n int
}

func (r *unevenReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	r.n = (r.n*7919 + 13) % 8000
	n := copy(p[:min(len(p), r.n+1)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// Submit starts a run on q for a queue test; the test closes it.
func Submit(t testing.TB, ctx context.Context, q broker.Queue) broker.Submission {
	t.Helper()
	sub, err := q.Submit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// Put puts the item id with data on sub for a queue test.
func Put(t testing.TB, ctx context.Context, sub broker.Submission, id, data string) {
	t.Helper()
	if err := sub.Put(ctx, broker.WorkItem{ID: id, Data: []byte(data)}); err != nil {
		t.Fatal(err)
	}
}
