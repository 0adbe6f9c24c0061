package conntest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// randomBytes returns n pseudo-random bytes determined by seed.
func randomBytes(seed uint64, n int) []byte {
	p := make([]byte, n)
	newSource(seed).Read(p)
	return p
}

// newSource returns a deterministic stream of pseudo-random bytes.
func newSource(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	s[31] = 'c'
	return rand.NewChaCha8(s)
}

// sendStream writes size bytes of the stream seed to w and returns the
// SHA-256 of the bytes Write accepted. It writes in pieces of pseudo-random
// sizes up to max bytes, or of 1 MiB if max is 0, so that memory stays
// small whatever the size; if max is negative, in one Write.
func sendStream(w io.Writer, seed uint64, size, max int) ([]byte, error) {
	src := newSource(seed)
	h := sha256.New()
	rng := rand.New(rand.NewPCG(seed, 2))
	piece := 1 << 20
	switch {
	case max > 0:
		piece = max
	case max < 0:
		piece, max = size, 0
	}
	buf := make([]byte, min(size, piece))
	for left := size; ; {
		k := min(left, len(buf))
		if max > 0 {
			k = min(k, 1+rng.IntN(max))
		}
		src.Read(buf[:k])
		n, err := w.Write(buf[:k])
		h.Write(buf[:n])
		if err == nil && n != k {
			err = fmt.Errorf("Write of %d bytes returned n=%d and no error", k, n)
		}
		if err != nil {
			return h.Sum(nil), err
		}
		if left -= k; left == 0 {
			return h.Sum(nil), nil
		}
	}
}

// verifier is an io.Writer that checks the bytes written to it against the
// stream seed: it counts and hashes them and remembers the first offset
// that differs.
type verifier struct {
	src  *rand.ChaCha8
	h    hash.Hash
	n    int
	diff int // first offset that differs, or -1
	buf  []byte
}

func newVerifier(seed uint64) *verifier {
	return &verifier{src: newSource(seed), h: sha256.New(), diff: -1}
}

func (v *verifier) Write(p []byte) (int, error) {
	v.h.Write(p)
	if len(v.buf) < len(p) {
		v.buf = make([]byte, len(p))
	}
	want := v.buf[:len(p)]
	v.src.Read(want)
	if v.diff < 0 && !bytes.Equal(p, want) {
		v.diff = v.n + firstDiff(p, want)
	}
	v.n += len(p)
	return len(p), nil
}

// check reports whether what was written to v is the size bytes of the
// stream whose SHA-256 the writer computed as sent, and if not, how it
// differs.
func (v *verifier) check(size int, sent []byte) (string, bool) {
	got := v.h.Sum(nil)
	if v.n == size && bytes.Equal(got, sent) {
		return "", true
	}
	msg := fmt.Sprintf("received %d bytes, sha256 %x; sent %d bytes, sha256 %x", v.n, got[:8], size, sent[:8])
	switch {
	case v.diff >= 0:
		msg += fmt.Sprintf("; first difference at offset %d", v.diff)
	case v.n < size:
		msg += "; the stream is truncated"
	case v.n > size:
		msg += "; the stream is longer than what was written"
	}
	return msg, false
}

// writeAll writes data to w in one Write.
func writeAll(w io.Writer, data []byte) error {
	n, err := w.Write(data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("Write of %d bytes returned n=%d and no error", len(data), n)
	}
	return err
}

// sum is a short digest for failure messages.
func sum(p []byte) string {
	s := sha256.Sum256(p)
	return fmt.Sprintf("%d bytes, sha256 %x", len(p), s[:8])
}

// firstDiff returns the offset of the first byte where a and b differ, or
// the length of the shorter one.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// compare reports whether got is want, and if not, how they differ.
func compare(got, want []byte) (string, bool) {
	if sha256.Sum256(got) == sha256.Sum256(want) && len(got) == len(want) {
		return "", true
	}
	return fmt.Sprintf("received %s, sent %s; first difference at offset %d", sum(got), sum(want), firstDiff(got, want)), false
}

// timeoutErr says what is wrong with err as a deadline error, or "" if it
// is one: it must match os.ErrDeadlineExceeded and be a net.Error whose
// Timeout method reports true.
func timeoutErr(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "got no error, want a timeout"
	case errors.Is(err, io.EOF):
		return fmt.Sprintf("got %s, want a timeout: io.EOF before CloseWrite truncates the stream", describe(err))
	case !errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("got %s, want an error matching os.ErrDeadlineExceeded", describe(err))
	case !errors.As(err, &ne) || !ne.Timeout():
		return fmt.Sprintf("got %s, want a net.Error whose Timeout() is true", describe(err))
	}
	return ""
}

// probeReader reads from r and numbers each Read call on a counter shared
// with the writer, so that the order of the reader's last Read (the one
// that returns io.EOF) and the writer's Drain can be checked. Before the
// first Read after size bytes have arrived it pauses, so that a Drain that
// does not wait for the reader to ask for EOF shows.
type probeReader struct {
	r        io.Reader
	size     int
	pause    time.Duration
	seq      *atomic.Int64
	n        int
	paused   bool
	lastCall int64 // number of the latest Read call
}

func (p *probeReader) Read(b []byte) (int, error) {
	if p.n >= p.size && !p.paused {
		p.paused = true
		time.Sleep(p.pause)
	}
	p.lastCall = p.seq.Add(1)
	n, err := p.r.Read(b)
	p.n += n
	return n, err
}
