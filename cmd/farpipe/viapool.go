package main

import (
	"context"
	"sync"
	"time"
)

// viaPool hands out the slots of map --via: Jobs per exec server, on the
// servers that have not failed recently, the least busy first. A server
// that fails is left alone for a while (half a second, doubling up to 10 s
// while it keeps failing); one success makes it usable at once again.
type viaPool struct {
	mu    sync.Mutex
	hosts []*viaHost
	wake  chan struct{} // closed (and replaced) when a slot frees or a host fails
}

type viaHost struct {
	addr    string // to dial
	name    string // for messages: without the token
	free    int    // slots not in use
	down    time.Time
	backoff time.Duration
}

const (
	viaBackoffMin = 500 * time.Millisecond
	viaBackoffMax = 10 * time.Second
)

func newViaPool(addrs []string, slots int) *viaPool {
	p := &viaPool{wake: make(chan struct{})}
	for _, a := range addrs {
		p.hosts = append(p.hosts, &viaHost{addr: a, name: displayAddr(a), free: slots})
	}
	return p
}

// acquire waits for a free slot on a host not in skip that is not resting
// after a failure, and returns the host's index. When every host is in
// skip, skip is ignored (a chunk may go back to a host that failed it).
func (p *viaPool) acquire(ctx context.Context, skip map[int]bool) (int, error) {
	if len(skip) >= len(p.hosts) {
		skip = nil
	}
	for {
		p.mu.Lock()
		best, now := -1, time.Now()
		var soonest time.Time // when a resting host with a free slot comes back
		for i, h := range p.hosts {
			if skip[i] || h.free == 0 {
				continue
			}
			if h.down.After(now) {
				if soonest.IsZero() || h.down.Before(soonest) {
					soonest = h.down
				}
				continue
			}
			if best < 0 || h.free > p.hosts[best].free {
				best = i
			}
		}
		if best >= 0 {
			p.hosts[best].free--
			p.mu.Unlock()
			return best, nil
		}
		wake := p.wake
		p.mu.Unlock()
		if err := sleepUntil(ctx, wake, soonest); err != nil {
			return -1, err
		}
	}
}

// release gives back a slot of host i; failed says the host failed (it
// then rests), ok that it served the chunk (it is trusted again).
func (p *viaPool) release(i int, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hosts[i]
	h.free++
	if failed {
		h.backoff = min(max(2*h.backoff, viaBackoffMin), viaBackoffMax)
		h.down = time.Now().Add(h.backoff)
	} else {
		h.backoff, h.down = 0, time.Time{}
	}
	close(p.wake)
	p.wake = make(chan struct{})
}

// sleepUntil waits for wake, until t (if not zero), or ctx's end.
func sleepUntil(ctx context.Context, wake <-chan struct{}, t time.Time) error {
	var timer <-chan time.Time
	if !t.IsZero() {
		tm := time.NewTimer(time.Until(t))
		defer tm.Stop()
		timer = tm.C
	}
	select {
	case <-wake:
	case <-timer:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return nil
}
