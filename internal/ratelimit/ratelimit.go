package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/time/rate"
)

// Burst limits: a burst is 1/50 s of the rate (20 ms), between 1 byte and
// MaxBurst.
const (
	MaxBurst  = 256 << 10
	burstSpan = 50 // bursts per second, at rates below MaxBurst*burstSpan
)

// ErrBadRate is wrapped by Parse's errors.
var ErrBadRate = errors.New("farpipe: bad rate")

// Parse reads a rate such as "10MB/s", "50MiB/s", "1.5MB/s" or "800k" (per
// second when no "/s" is given) in bytes per second. Units follow
// go-humanize: kB, MB, GB are powers of 1000, KiB, MiB, GiB of 1024.
func Parse(s string) (float64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "ps")
	n, err := humanize.ParseBigBytes(t)
	if err != nil || strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("%w %q: give bytes per second, such as 10MB/s or 50MiB/s", ErrBadRate, s)
	}
	f, _ := n.Float64()
	if f < 1 || f > 1<<50 {
		return 0, fmt.Errorf("%w %q: give from 1B/s to 1PiB/s", ErrBadRate, s)
	}
	return f, nil
}

// Format prints a rate as Parse reads it, in the units of go-humanize.
func Format(bytesPerSec float64) string {
	return humanize.Bytes(uint64(math.Round(bytesPerSec))) + "/s"
}

// Burst returns the burst size for a rate: the largest piece a Limiter
// lets through at once.
func Burst(bytesPerSec float64) int {
	b := bytesPerSec / burstSpan
	return int(max(1, min(b, MaxBurst)))
}

// Limiter lets bytes through at a rate, in pieces of at most one burst.
type Limiter struct {
	lim   *rate.Limiter
	burst int
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Limiter of bytesPerSec (at least 1), with Burst's burst.
// Its bucket starts full: the first burst goes at once.
func New(bytesPerSec float64) *Limiter {
	b := Burst(bytesPerSec)
	return &Limiter{lim: rate.NewLimiter(rate.Limit(bytesPerSec), b), burst: b, now: time.Now, sleep: sleep}
}

// Burst returns the largest piece the Limiter lets through at once.
func (l *Limiter) Burst() int { return l.burst }

// Rate returns the limit, in bytes per second.
func (l *Limiter) Rate() float64 { return float64(l.lim.Limit()) }

// WaitN waits until n bytes may pass, taking their tokens a burst at a
// time. If ctx ends first it returns ctx's error; the tokens of the piece
// being waited for are given back, those of earlier pieces are spent.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	for n > 0 {
		k := min(n, l.burst)
		now := l.now()
		r := l.lim.ReserveN(now, k) // k <= burst: always OK
		if d := r.DelayFrom(now); d > 0 {
			if err := l.sleep(ctx, d); err != nil {
				r.CancelAt(l.now())
				return err
			}
		}
		n -= k
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Reader reads from R at most at L's rate.
type Reader struct {
	Ctx context.Context
	R   io.Reader
	L   *Limiter
}

// Read reads at most one burst from R and returns it once its tokens are
// there. If the context ends during the wait, the bytes read are returned
// with the context's error.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) > r.L.burst {
		p = p[:r.L.burst]
	}
	n, err := r.R.Read(p)
	if n > 0 {
		if werr := r.L.WaitN(r.Ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// Writer writes to W at most at L's rate.
type Writer struct {
	Ctx context.Context
	W   io.Writer
	L   *Limiter
}

// Write writes p to W a burst at a time, each piece once its tokens are
// there.
func (w *Writer) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		k := min(len(p), w.L.burst)
		if err := w.L.WaitN(w.Ctx, k); err != nil {
			return total, err
		}
		n, err := w.W.Write(p[:k])
		total += n
		if err != nil {
			return total, err
		}
		p = p[k:]
	}
	return total, nil
}
