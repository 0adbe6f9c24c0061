package main

import (
	"io"
	"os"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressFlags are --progress and --size.
type progressFlags struct {
	mode string // "", "auto", "always" or "never"
	size string // expected size, for percentage and ETA
}

// bar returns a live progress line on stderr for a transfer of total bytes
// (-1: unknown), or nil when there is to be none: -p shows one only when
// stderr is a terminal, --progress=always in any case.
func (p *progressFlags) bar(verb string, total int64) (*progressbar.ProgressBar, error) {
	switch p.mode {
	case "", "never":
		return nil, nil
	case "auto":
		if !term.IsTerminal(int(os.Stderr.Fd())) {
			return nil, nil
		}
	case "always":
	default:
		return nil, usagef("--progress=%s: use auto (the default of -p), always or never", p.mode)
	}
	if p.size != "" {
		n, err := humanize.ParseBytes(p.size)
		if err != nil {
			return nil, usagef("--size %q: give a size such as 4GiB", p.size)
		}
		total = int64(n)
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription("farpipe: "+verb),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionUseANSICodes(true),
	), nil
}

// sizeOf returns the size of f if it is a regular file, else -1.
func sizeOf(f *os.File) int64 {
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		return fi.Size()
	}
	return -1
}

// counted calls add with the size of each successful read or write.
type counted struct {
	add func(int64)
}

func (c counted) reader(r io.Reader) io.Reader {
	if c.add == nil {
		return r
	}
	return readerFunc(func(p []byte) (int, error) {
		n, err := r.Read(p)
		c.add(int64(n))
		return n, err
	})
}

func (c counted) writer(w io.Writer) io.Writer {
	if c.add == nil {
		return w
	}
	return writerFunc(func(p []byte) (int, error) {
		n, err := w.Write(p)
		c.add(int64(n))
		return n, err
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// tracker wires a bar to a counted; done finishes the bar.
func tracker(bar *progressbar.ProgressBar) (counted, func()) {
	if bar == nil {
		return counted{}, func() {}
	}
	return counted{add: func(n int64) { bar.Add64(n) }}, func() {
		bar.Finish()
		os.Stderr.WriteString("\n")
	}
}
