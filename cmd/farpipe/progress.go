package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/term"
)

// progressFlags are --progress and --size.
type progressFlags struct {
	mode string // "", "auto", "always" or "never"
	size string // expected size, for percentage and ETA
}

// check validates both flags, whether or not a progress line is shown, and
// returns the expected size (-1: not given).
func (p *progressFlags) check() (int64, error) {
	switch p.mode {
	case "", "never", "auto", "always":
	default:
		return 0, usagef("--progress=%s: use auto (the default of -p), always or never", p.mode)
	}
	if p.size == "" {
		return -1, nil
	}
	n, err := humanize.ParseBytes(p.size)
	if err != nil || strings.HasPrefix(strings.TrimSpace(p.size), "-") || n > 1<<62 {
		return 0, usagef("--size %q: give a size such as 4GiB", p.size)
	}
	return int64(n), nil
}

// show reports whether a progress line is to be shown: -p shows one only
// when stderr is a terminal, --progress=always in any case.
func (p *progressFlags) show() bool {
	switch p.mode {
	case "auto":
		return term.IsTerminal(int(os.Stderr.Fd()))
	case "always":
		return true
	}
	return false
}

// progress prints a live line on w: bytes delivered (sent and confirmed by
// the receiver's application, or written to recv's output), the rate over
// the last few seconds, the elapsed time and, when the total is known, the
// percentage and the time left. Sizes are in the binary units --size takes
// (KiB, MiB, GiB). Its goroutine is owned by the progress and ended by
// finish.
type progress struct {
	verb  string
	total int64 // -1: unknown
	count func() uint64
	w     io.Writer
	now   func() time.Time
	limit string // "limit 10 MB/s" (--rate-limit), or ""

	start   time.Time
	samples []sample // the last few seconds, oldest first
	stop    chan struct{}
	wg      sync.WaitGroup
}

type sample struct {
	at time.Time
	n  uint64
}

// progressTick is how often the line is redrawn; rateSpan is how far back
// the rate looks, and minSpan how much must have elapsed before a rate is
// shown at all, so that the first burst (filling the window) does not show
// as an absurd rate.
const (
	progressTick = 250 * time.Millisecond
	rateSpan     = 5 * time.Second
	minSpan      = time.Second
)

func newProgress(verb string, total int64, count func() uint64, w io.Writer) *progress {
	return &progress{verb: verb, total: total, count: count, w: w, now: time.Now}
}

// run starts redrawing the line until finish.
func (p *progress) run() {
	p.start = p.now()
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(progressTick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprint(p.w, "\r"+p.line()+"\x1b[K")
			case <-p.stop:
				return
			}
		}
	}()
}

// finish stops the redrawing and prints the final line.
func (p *progress) finish() {
	close(p.stop)
	p.wg.Wait()
	fmt.Fprint(p.w, "\r"+p.line()+"\x1b[K\n")
}

// line samples the counter and formats the progress line.
func (p *progress) line() string {
	now, n := p.now(), p.count()
	p.samples = append(p.samples, sample{now, n})
	for len(p.samples) > 2 && now.Sub(p.samples[1].at) >= rateSpan {
		p.samples = p.samples[1:]
	}
	elapsed := now.Sub(p.start)
	var b strings.Builder
	fmt.Fprintf(&b, "farpipe: %s %s", p.verb, humanize.IBytes(n))
	if p.total >= 0 {
		fmt.Fprintf(&b, " / %s", humanize.IBytes(uint64(p.total)))
		if p.total > 0 {
			fmt.Fprintf(&b, " %3.0f%%", 100*float64(n)/float64(p.total))
		}
	}
	rate := -1.0
	if first := p.samples[0]; now.Sub(first.at) >= minSpan && elapsed >= minSpan {
		rate = float64(n-first.n) / now.Sub(first.at).Seconds()
	}
	if rate >= 0 {
		fmt.Fprintf(&b, "  %s/s", humanize.IBytes(uint64(rate)))
	} else {
		b.WriteString("  -- B/s")
	}
	if p.limit != "" {
		fmt.Fprintf(&b, " (%s)", p.limit)
	}
	fmt.Fprintf(&b, "  %s", clock(elapsed))
	if p.total > 0 && rate > 0 && uint64(p.total) > n {
		left := time.Duration(float64(uint64(p.total)-n) / rate * float64(time.Second))
		fmt.Fprintf(&b, "  ETA %s", clock(left))
	}
	return b.String()
}

// clock formats d as M:SS or H:MM:SS.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// sizeOf returns the size of f if it is a regular file, else -1.
func sizeOf(f *os.File) int64 {
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		return fi.Size()
	}
	return -1
}

// writeCounter counts the bytes written through it.
type writeCounter struct {
	w io.Writer
	n atomic.Uint64
}

func (c *writeCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}
