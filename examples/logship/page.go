package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// snapshot is the part of the relay page's /snapshot this example reads
// (relay.Snapshot).
type snapshot struct {
	Streams []struct {
		Name        string  `json:"name"`
		Records     uint64  `json:"records"`
		Bytes       uint64  `json:"bytes"`
		Rate        float64 `json:"rate"`
		Publishers  int     `json:"publishers"`
		Subscribers []struct {
			Name       string `json:"name"`
			Lag        uint64 `json:"lag"`
			AckPending int    `json:"ack_pending"`
			Active     bool   `json:"active"`
		} `json:"subscribers"`
	} `json:"streams"`
}

// sample is what the page said of the stream at one moment.
type sample struct {
	at         time.Time
	records    uint64
	bytes      uint64
	publishers int
	lags       map[string]uint64 // subscriber: records not yet delivered
	pending    map[string]int    // subscriber: delivered, not acknowledged
}

// watcher fetches the live page's /snapshot every 500 ms over loopback.
type watcher struct {
	url    string // http://127.0.0.1:PORT/snapshot
	stream string

	mu      sync.Mutex
	samples []sample
	fails   int // fetches that failed (the relay away)
	maxLag  uint64
}

func (w *watcher) run(ctx context.Context) {
	client := &http.Client{Timeout: 2 * time.Second}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		s, err := w.fetch(ctx, client)
		w.mu.Lock()
		if err != nil {
			w.fails++
		} else if s != nil {
			w.samples = append(w.samples, *s)
			for _, l := range s.lags {
				w.maxLag = max(w.maxLag, l)
			}
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *watcher) fetch(ctx context.Context, client *http.Client) (*sample, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", w.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", w.url, resp.Status)
	}
	var snap snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return nil, err
	}
	for _, st := range snap.Streams {
		if st.Name != w.stream {
			continue
		}
		s := &sample{at: time.Now(), records: st.Records, bytes: st.Bytes, publishers: st.Publishers,
			lags: map[string]uint64{}, pending: map[string]int{}}
		for _, sub := range st.Subscribers {
			s.lags[sub.Name], s.pending[sub.Name] = sub.Lag, sub.AckPending
		}
		return s, nil
	}
	return nil, nil // not made yet
}

// last returns the latest sample, if any.
func (w *watcher) last() (sample, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.samples) == 0 {
		return sample{}, false
	}
	return w.samples[len(w.samples)-1], true
}

// show prints the latest sample, with the growth since the one before.
func (w *watcher) show(what string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.samples)
	if n == 0 {
		note("live page: no sample of stream %s yet (%d fetches failed)", w.stream, w.fails)
		return
	}
	s := w.samples[n-1]
	growth := ""
	if n > 1 {
		p := w.samples[n-2]
		growth = fmt.Sprintf(" (%+d in %.1f s)", int64(s.records)-int64(p.records), s.at.Sub(p.at).Seconds())
	}
	names := make([]string, 0, len(s.lags))
	for name := range s.lags {
		names = append(names, name)
	}
	sort.Strings(names)
	var subs []string
	for _, name := range names {
		subs = append(subs, fmt.Sprintf("%s lag %d", name, s.lags[name]))
	}
	note("live page, %s: stream %s: %d messages stored%s, %d KiB, %d publishers; subscribers: %s",
		what, w.stream, s.records, growth, s.bytes>>10, s.publishers, strings.Join(subs, ", "))
}

// rising says whether the stream's records rose between samples, how many
// samples there were, and the fetches that failed.
func (w *watcher) rising() (rises, samples, fails int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 1; i < len(w.samples); i++ {
		if w.samples[i].records > w.samples[i-1].records {
			rises++
		}
	}
	return rises, len(w.samples), w.fails
}

// caughtUp waits until the page shows subscriber name with nothing left
// to deliver, in two samples in a row. (Messages may stay unacknowledged
// for a while: acknowledgements the killed relay lost are pending until
// the messages come again, 30 s later, and sub acknowledges them then
// without writing them twice.)
func (w *watcher) caughtUp(ctx context.Context, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var prev time.Time
	for time.Now().Before(deadline) {
		if s, ok := w.last(); ok && s.at.After(prev) {
			lag, known := s.lags[name]
			if known && lag == 0 {
				if !prev.IsZero() {
					return nil
				}
				prev = s.at
			} else {
				prev = time.Time{}
			}
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the page did not show subscriber %s caught up within %v", name, timeout)
}
