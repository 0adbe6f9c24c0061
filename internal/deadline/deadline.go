package deadline

import (
	"sync"
	"time"
)

// A Deadline is a read or write deadline. Its zero value has no deadline
// and is ready to use; a Deadline must not be copied after first use.
type Deadline struct {
	mu     sync.Mutex
	timer  *time.Timer   // pending: closes cancel when it fires
	cancel chan struct{} // closed when the deadline passes; nil until first used
}

// Set sets the point in time at which the deadline passes; the zero time
// means none. A time in the past closes the channel at once.
func (d *Deadline) Set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.chanLocked()
	if d.timer != nil && !d.timer.Stop() {
		<-c // the timer fired: wait for it to close the channel
	}
	d.timer = nil

	closed := isClosed(c)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return
	}
	if !closed {
		close(c)
	}
}

// Wait returns a channel that is closed when the deadline passes.
func (d *Deadline) Wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chanLocked()
}

// Expired reports whether the deadline has passed.
func (d *Deadline) Expired() bool { return isClosed(d.Wait()) }

// Armed reports whether a deadline is set, passed or not.
func (d *Deadline) Armed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.timer != nil || isClosed(d.chanLocked())
}

func (d *Deadline) chanLocked() chan struct{} {
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	return d.cancel
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
