package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// tail follows a sink file as it grows: how many lines it holds, the
// highest sequence number of each host, and how long each line took from
// its writer to the file (at the resolution of the polls, 50 ms).
type tail struct {
	file    string
	labeled bool

	mu      sync.Mutex
	off     int64
	partial []byte
	lines   int
	top     map[string]uint64
	lat     []time.Duration
}

func newTail(file string, labeled bool) *tail {
	return &tail{file: file, labeled: labeled, top: map[string]uint64{}}
}

func (t *tail) run(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		t.poll()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *tail) poll() {
	f, err := os.Open(t.file)
	if err != nil {
		return
	}
	defer f.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return
	}
	data, _ := io.ReadAll(f)
	t.off += int64(len(data))
	now := time.Now()
	data = append(t.partial, data...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		l := string(data[:i])
		data = data[i+1:]
		t.lines++
		if t.labeled {
			_, l, _ = strings.Cut(l, "\t")
		}
		if host, seq, _, ok := parseLine(l); ok {
			t.top[host] = max(t.top[host], seq)
		}
		if at, ok := lineTime(l); ok {
			t.lat = append(t.lat, now.Sub(at))
		}
	}
	t.partial = append([]byte(nil), data...)
}

// has says whether the file holds at least n lines and each host's last.
func (t *tail) has(n int, last map[string]uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lines < n {
		return false
	}
	for host, seq := range last {
		if t.top[host] < seq {
			return false
		}
	}
	return true
}

func (t *tail) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lines
}

// latency returns the median, 99th percentile and largest delay.
func (t *tail) latency() (p50, p99, top time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lat) == 0 {
		return 0, 0, 0
	}
	l := append([]time.Duration(nil), t.lat...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)/2], l[len(l)*99/100], l[len(l)-1]
}

// waitFor waits until the sink holds n lines and each host's last one.
func (t *tail) waitFor(ctx context.Context, n int, last map[string]uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !t.has(n, last) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s holds %d lines of %d after waiting %v", t.file, t.count(), n, timeout)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
