package deadline

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// watchdog bounds every wait for a channel, so that a bug fails the test
// instead of hanging it. It is no timing assertion: the events waited for
// come within milliseconds.
const watchdog = 10 * time.Second

func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(watchdog):
		t.Fatalf("%s: the channel was not closed", what)
	}
}

// passAfter returns a channel closed once a fresh deadline of d has passed:
// a clock for checking that another, earlier timer would have fired.
func passAfter(t *testing.T, d time.Duration) <-chan struct{} {
	t.Helper()
	var ref Deadline
	ref.Set(time.Now().Add(d))
	t.Cleanup(func() { ref.Set(time.Time{}) })
	return ref.Wait()
}

func check(t *testing.T, d *Deadline, expired, armed bool) {
	t.Helper()
	if got := d.Expired(); got != expired {
		t.Errorf("Expired() = %v, want %v", got, expired)
	}
	if got := d.Armed(); got != armed {
		t.Errorf("Armed() = %v, want %v", got, armed)
	}
}

func TestDeadline(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, d *Deadline)
	}{
		{"the zero value has no deadline", func(t *testing.T, d *Deadline) {
			check(t, d, false, false)
			d.Set(time.Time{})
			check(t, d, false, false)
		}},
		{"expiry closes the channel a waiter holds", func(t *testing.T, d *Deadline) {
			d.Set(time.Now().Add(time.Millisecond))
			c := d.Wait()
			waitClosed(t, c, "after expiry")
			check(t, d, true, true)
		}},
		{"a time in the past expires at once", func(t *testing.T, d *Deadline) {
			d.Set(time.Now().Add(-time.Second))
			check(t, d, true, true)
		}},
		{"reset after expiry", func(t *testing.T, d *Deadline) {
			d.Set(time.Now().Add(-time.Second))
			old := d.Wait()
			d.Set(time.Time{})
			check(t, d, false, false)
			if d.Wait() == old {
				t.Fatal("the closed channel was not remade")
			}
			d.Set(time.Now().Add(time.Hour))
			check(t, d, false, true)
			d.Set(time.Now().Add(time.Millisecond))
			waitClosed(t, d.Wait(), "after the second expiry")
			check(t, d, true, true)
		}},
		{"cancel before expiry", func(t *testing.T, d *Deadline) {
			d.Set(time.Now().Add(time.Millisecond))
			c := d.Wait()
			d.Set(time.Time{})
			<-passAfter(t, 5*time.Millisecond)
			if isClosed(c) {
				t.Fatal("a cancelled deadline closed its channel")
			}
			check(t, d, false, false)
		}},
		{"a later deadline replaces an earlier one", func(t *testing.T, d *Deadline) {
			d.Set(time.Now().Add(time.Millisecond))
			d.Set(time.Now().Add(time.Hour))
			<-passAfter(t, 5*time.Millisecond)
			check(t, d, false, true)
			d.Set(time.Time{})
		}},
		{"an earlier deadline replaces a later one", func(t *testing.T, d *Deadline) {
			d.Set(time.Now().Add(time.Hour))
			c := d.Wait()
			d.Set(time.Now().Add(time.Millisecond))
			waitClosed(t, c, "the channel held before the change")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Deadline
			tt.run(t, &d)
		})
	}
}

// TestSetWhileWaiting sets the deadline from several goroutines, to short
// times, far times and none, while readers wait on it as a connection's Read
// does; a last Set in the past must wake every reader.
func TestSetWhileWaiting(t *testing.T) {
	const readers, setters, sets = 4, 4, 200
	var d Deadline
	var stop atomic.Bool
	var wg sync.WaitGroup
	ready := make(chan struct{}, readers)
	for range readers {
		wg.Go(func() {
			ready <- struct{}{}
			for !stop.Load() {
				<-d.Wait() // as a Read: wait, then look again
				if d.Expired() {
					d.Armed()
				}
			}
		})
	}
	for range readers {
		<-ready
	}
	var sg sync.WaitGroup
	for i := range setters {
		sg.Go(func() {
			for j := range sets {
				switch (i + j) % 4 {
				case 0:
					d.Set(time.Time{})
				case 1:
					d.Set(time.Now().Add(time.Duration(j%50) * time.Microsecond))
				case 2:
					d.Set(time.Now().Add(time.Hour))
				default:
					d.Set(time.Now().Add(-time.Second))
				}
			}
		})
	}
	sg.Wait()
	stop.Store(true)
	d.Set(time.Now().Add(-time.Second))
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	waitClosed(t, done, "readers after the last Set")
}
