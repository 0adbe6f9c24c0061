package fan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/farpipe/farpipe/flow"
)

// records makes n records "sender seq padding<end>" of varying length.
func records(sender, n int, end string, rng *rand.Rand) []byte {
	var b bytes.Buffer
	for seq := range n {
		fmt.Fprintf(&b, "%d %d %s%s", sender, seq, strings.Repeat("x", rng.IntN(300)), end)
	}
	return b.Bytes()
}

// TestInRecordsWhole: records of three readers fed in random pieces come
// out whole, each exactly once and in its reader's order, with the prefix.
func TestInRecordsWhole(t *testing.T) {
	for _, end := range []string{"\n", "\x00", "<END>"} {
		t.Run(strconv.Quote(end), func(t *testing.T) {
			const senders, n = 3, 2000
			var out bytes.Buffer
			in := NewIn(&out)
			var wg sync.WaitGroup
			errs := make([]error, senders)
			for s := range senders {
				pr, pw := io.Pipe()
				data := records(s, n, end, rand.New(rand.NewPCG(uint64(s), 1)))
				go func() { // random pieces, cutting records and separators
					rng := rand.New(rand.NewPCG(uint64(s), 2))
					for len(data) > 0 {
						k := min(len(data), 1+rng.IntN(700))
						pw.Write(data[:k])
						data = data[k:]
					}
					pw.Close()
				}()
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[s] = in.Copy(context.Background(), pr, InOptions{
						Split: flow.RecEnd(end), Prefix: []byte("s" + strconv.Itoa(s) + "\t"), BufSize: 512})
				}()
			}
			wg.Wait()
			next := make([]int, senders)
			recs := strings.Split(out.String(), end)
			if recs[len(recs)-1] != "" {
				t.Fatalf("output does not end with a record end: ...%q", recs[len(recs)-1])
			}
			for _, rec := range recs[:len(recs)-1] {
				var label string
				var s, seq int
				if _, err := fmt.Sscanf(rec, "%s %d %d", &label, &s, &seq); err != nil || label != "s"+strconv.Itoa(s) || seq != next[s] {
					t.Fatalf("record %q: want sender %d's record %d with its label (%v)", rec, s, next[s], err)
				}
				next[s]++
			}
			for s := range senders {
				if errs[s] != nil || next[s] != n {
					t.Errorf("sender %d: %d records of %d, error %v", s, next[s], n, errs[s])
				}
			}
		})
	}
}

type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestInEnds(t *testing.T) {
	errCut := errors.New("cut")
	errDisk := errors.New("disk full")
	tests := []struct {
		name    string
		r       io.Reader
		w       io.Writer
		o       InOptions
		want    string
		wantErr error
	}{
		{"last record without its end gets one", strings.NewReader("a\nb"), nil, InOptions{Term: []byte("\n")}, "a\nb\n", nil},
		{"a failed stream drops its partial record", &errReader{[]byte("a\nb"), errCut}, nil, InOptions{}, "a\n", errCut},
		{"output error", strings.NewReader("a\n"), failWriter{errDisk}, InOptions{}, "", errDisk},
		{"record too big", strings.NewReader(strings.Repeat("x", 100) + "\n"), nil, InOptions{BufSize: 10, MaxRecord: 50}, "", ErrRecordTooBig},
		{"a long record grows the buffer", strings.NewReader(strings.Repeat("x", 100) + "\n"), nil, InOptions{BufSize: 10, MaxRecord: 200}, strings.Repeat("x", 100) + "\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := tt.w
			if w == nil {
				w = &out
			}
			tt.o.Split = flow.Lines()
			_, err := NewIn(w).Copy(context.Background(), tt.r, tt.o)
			if out.String() != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("got %q, %v; want %q, %v", out.String(), err, tt.want, tt.wantErr)
			}
			var oe *OutputError
			if tt.w != nil && !errors.As(err, &oe) {
				t.Errorf("output error %v is not an *OutputError", err)
			}
		})
	}
}
