package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/faults"
)

// pacedReader yields n pseudo-random bytes at about rate bytes per second,
// hashing what it produced.
type pacedReader struct {
	left, rate int
	start      time.Time
	done       int
	src        []byte
	sum        interface{ Write([]byte) (int, error) }
}

func newPaced(n, rate int) (*pacedReader, func() [32]byte) {
	h := sha256.New()
	p := &pacedReader{left: n, rate: rate, src: randomData(1 << 20), sum: h}
	return p, func() [32]byte { var s [32]byte; h.Sum(s[:0]); return s }
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	if ahead := time.Duration(float64(p.done)/float64(p.rate)*float64(time.Second)) - time.Since(p.start); ahead > 0 {
		time.Sleep(ahead)
	}
	n := min(len(b), p.left, 64<<10)
	off := p.done % len(p.src)
	n = copy(b[:n], p.src[off:])
	// Make every megabyte different, so that a misplaced one shows.
	b[0] ^= byte(p.done >> 20)
	p.sum.Write(b[:n])
	p.left -= n
	p.done += n
	return n, nil
}

// TestCLIRandomResets: 256 MiB from send to recv through a proxy that
// resets the connection every 0.2-2 s; both exit 0 with identical data, and
// -v reports each resumption.
func TestCLIRandomResets(t *testing.T) {
	size := 256 << 20
	if testing.Short() {
		size = 32 << 20
	}
	addr := freeAddr(t)
	p := faults.New(t, addr)
	fast := []string{"--keepalive-timeout", "1s", "--backoff-max", "200ms", "-v"}
	recv := start(t, command(t, append([]string{"recv", "--listen", addr}, fast...)...), nil)
	in, sum := newPaced(size, 40<<20)
	send := start(t, command(t, append([]string{"send", "--wait", "10s", p.Addr()}, fast...)...), in)
	ctx, cancel := context.WithCancel(context.Background())
	resets := p.ResetEvery(ctx, t, 200*time.Millisecond, 2*time.Second)
	s, r := send(), recv()
	cancel()
	n := <-resets
	if s.code != 0 || r.code != 0 {
		t.Fatalf("send exit %d, recv exit %d\nsend: %s\nrecv: %s", s.code, r.code, s.stderr, r.stderr)
	}
	if sha256.Sum256(r.stdout) != sum() || len(r.stdout) != size {
		t.Fatalf("received %d bytes that differ from the %d sent", len(r.stdout), size)
	}
	resumed := strings.Count(s.stderr, "resumed after")
	t.Logf("%d resets; send -v:\n%s", n, s.stderr)
	if n > 1 && resumed == 0 {
		t.Errorf("%d resets, but send -v reports no resumption", n)
	}
	for _, line := range strings.Split(strings.TrimSpace(s.stderr+r.stderr), "\n") {
		if !strings.HasPrefix(line, "farpipe: ") {
			t.Errorf("stderr line does not start with farpipe: %q", line)
		}
	}
	_ = bytes.MinRead
}
