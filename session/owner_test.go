package session

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// fakeWire stands for a connection under an owner: its Wait blocks until a
// frame is sent or the read deadline is put in the past (a kick).
type fakeWire struct {
	mu      sync.Mutex
	limit   time.Time     // the last read deadline set
	expired chan struct{} // closed while the deadline is in the past
	frames  chan struct{}
	entered chan struct{} // Wait was called
}

func newFakeWire() *fakeWire {
	return &fakeWire{expired: make(chan struct{}), frames: make(chan struct{}, 1), entered: make(chan struct{}, 1)}
}

func (w *fakeWire) SetReadDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.limit = t
	past := !t.IsZero() && t.Before(time.Now())
	if past && !isClosed(w.expired) {
		close(w.expired)
	} else if !past && isClosed(w.expired) {
		w.expired = make(chan struct{})
	}
	return nil
}

func (w *fakeWire) Buffered() int { return 0 }

func (w *fakeWire) Wait() error {
	w.mu.Lock()
	expired := w.expired
	w.mu.Unlock()
	w.entered <- struct{}{}
	select {
	case <-w.frames:
		return nil
	case <-expired:
		return os.ErrDeadlineExceeded
	}
}

// checkOwner fails the test if o breaks one of its invariants (see owner).
func checkOwner(t *testing.T, o *owner, step string) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.reader == byLoop && o.lent:
		t.Fatalf("%s: the readLoop reads while reading is lent", step)
	case o.lent && o.waiters > 0 && o.reader != byRead:
		t.Fatalf("%s: %d Reads wait for frames, reading is lent and nobody holds it", step, o.waiters)
	case !o.lent && o.reader == byNobody && len(o.loopWake) == 0:
		t.Fatalf("%s: reading is not lent, nobody reads, and the readLoop is not woken", step)
	case o.waiters < 0:
		t.Fatalf("%s: %d waiters", step, o.waiters)
	}
}

// lend makes o's readLoop read one small frame that woke a Read, after
// which reading is lent.
func lend(t *testing.T, o *owner) {
	t.Helper()
	o.loopTake(nil, nil)
	o.loopRelease(true)
	if !o.state().lent {
		t.Fatal("reading was not lent")
	}
}

// loopTakes runs the readLoop's loopTake in a goroutine and returns a
// channel closed when it returns.
func loopTakes(o *owner, stop chan struct{}) chan struct{} {
	took := make(chan struct{})
	go func() {
		o.loopTake(stop, nil)
		close(took)
	}()
	return took
}

func waitClosed(t *testing.T, c chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

// TestOwner drives the owner through every interleaving that matters, by
// hand, and checks its invariants after each step.
func TestOwner(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, o *owner)
	}{
		{"the readLoop reads first", func(t *testing.T, o *owner) {
			checkOwner(t, o, "new")
			o.loopTake(nil, nil)
			if o.state().reader != byLoop {
				t.Fatal("the readLoop does not hold the token")
			}
			o.loopRelease(false)
			checkOwner(t, o, "released")
		}},
		{"a Read fails to get the token while another holds it", func(t *testing.T, o *owner) {
			// The lost wake-up of issue 11: B sleeps, A gives the token
			// back; before, nobody read for B.
			lend(t, o)
			if !o.tryRead(true) {
				t.Fatal("A did not get the token")
			}
			checkOwner(t, o, "A holds")
			if o.tryRead(true) {
				t.Fatal("B got the token A holds")
			}
			checkOwner(t, o, "B waits")
			o.readDone(true)
			checkOwner(t, o, "A gave it back")
			if st := o.state(); st.lent || st.waiters != 1 {
				t.Fatalf("after A: %+v, want reading back with the readLoop", st)
			}
			waitClosed(t, loopTakes(o, nil), "the readLoop taking reading")
		}},
		{"the holder reads the frame a sleeping Read waited for", func(t *testing.T, o *owner) {
			lend(t, o)
			o.tryRead(true)
			o.tryRead(true) // B waits
			o.unwait()      // A's frame was B's: B no longer waits
			checkOwner(t, o, "B served")
			o.readDone(true)
			checkOwner(t, o, "A gave it back")
			if !o.state().lent {
				t.Fatal("lending ended though nobody waits")
			}
			if !o.tryRead(true) {
				t.Fatal("B, back for more, did not get the token")
			}
		}},
		{"lending is refused while a Read sleeps", func(t *testing.T, o *owner) {
			o.tryRead(true) // not lent: B sleeps, the readLoop reads for it
			checkOwner(t, o, "B waits")
			o.loopTake(nil, nil)
			o.loopRelease(true)
			checkOwner(t, o, "released")
			if o.state().lent {
				t.Fatal("reading was lent while a Read waits for the readLoop")
			}
		}},
		{"a Read with a deadline takes reading back", func(t *testing.T, o *owner) {
			lend(t, o)
			if o.tryRead(false) {
				t.Fatal("a Read with a deadline got the token")
			}
			checkOwner(t, o, "deadline Read waits")
			waitClosed(t, loopTakes(o, nil), "the readLoop taking reading")
		}},
		{"reclaim while a Read holds the token", func(t *testing.T, o *owner) {
			lend(t, o)
			o.tryRead(true)
			o.reclaim()
			checkOwner(t, o, "reclaimed")
			if len(o.loopWake) != 0 {
				<-o.loopWake // a stale wake-up from lend's loopTake
			}
			took := loopTakes(o, nil)
			if st := o.state(); st.lent || st.reader != byRead {
				t.Fatalf("after reclaim: %+v", st)
			}
			o.readDone(true) // keep: but reading was taken back
			waitClosed(t, took, "the readLoop taking reading")
			checkOwner(t, o, "the readLoop took it") // not before: the readLoop runs
		}},
		{"reclaim when nobody holds the token", func(t *testing.T, o *owner) {
			lend(t, o)
			o.reclaim()
			checkOwner(t, o, "reclaimed")
			waitClosed(t, loopTakes(o, nil), "the readLoop taking reading")
		}},
		{"the connection ends while a Read holds the token", func(t *testing.T, o *owner) {
			lend(t, o)
			o.tryRead(true)
			stop := make(chan struct{})
			took := loopTakes(o, stop)
			close(stop)
			o.readDone(true)
			waitClosed(t, took, "the readLoop taking reading")
			checkOwner(t, o, "the readLoop took it")
			if o.state().lent {
				t.Fatal("reading is still lent after the end")
			}
		}},
		{"the connection ends while reading is lent", func(t *testing.T, o *owner) {
			lend(t, o)
			stop := make(chan struct{})
			close(stop)
			waitClosed(t, loopTakes(o, stop), "the readLoop taking reading")
		}},
		{"a large frame or an error ends lending", func(t *testing.T, o *owner) {
			lend(t, o)
			o.tryRead(true)
			o.readDone(false)
			checkOwner(t, o, "A gave it back")
			if o.state().lent {
				t.Fatal("still lent")
			}
		}},
		{"Reads asleep before the connection", func(t *testing.T, o *owner) {
			o.addWaiters(2)
			o.loopTake(nil, nil)
			o.loopRelease(true)
			checkOwner(t, o, "released")
			if o.state().lent {
				t.Fatal("lent while two Reads wait")
			}
		}},
		{"kick while the holder waits for a frame", func(t *testing.T, o *owner) {
			w := o.conn.(*fakeWire)
			lend(t, o)
			o.tryRead(true)
			type result struct {
				ok  bool
				err error
			}
			res := make(chan result, 1)
			go func() {
				ok, err := o.waitFrame(w)
				res <- result{ok, err}
			}()
			<-w.entered // peeking
			o.kick()
			r := <-res
			if r.ok || r.err != nil {
				t.Fatalf("kicked wait: %v, %v; want false, nil", r.ok, r.err)
			}
			if !w.limit.IsZero() {
				t.Fatalf("read deadline left at %v", w.limit)
			}
			o.readDone(true)
			checkOwner(t, o, "A gave it back")
			if o.state().lent {
				t.Fatal("still lent after a kick")
			}
		}},
		{"kick before the holder waits", func(t *testing.T, o *owner) {
			w := o.conn.(*fakeWire)
			lend(t, o)
			o.tryRead(true)
			o.kick()
			if ok, err := o.waitFrame(w); ok || err != nil {
				t.Fatalf("got %v, %v; want false, nil", ok, err)
			}
			if len(w.entered) != 0 {
				t.Fatal("waited though kicked")
			}
		}},
		{"a frame ends the wait", func(t *testing.T, o *owner) {
			w := o.conn.(*fakeWire)
			lend(t, o)
			o.tryRead(true)
			w.frames <- struct{}{}
			if ok, err := o.waitFrame(w); !ok || err != nil {
				t.Fatalf("got %v, %v; want true, nil", ok, err)
			}
		}},
		{"an old kick does not end a new holder's wait", func(t *testing.T, o *owner) {
			w := o.conn.(*fakeWire)
			o.kick() // nobody holds the token
			lend(t, o)
			o.tryRead(true)
			w.frames <- struct{}{}
			if ok, err := o.waitFrame(w); !ok || err != nil {
				t.Fatalf("got %v, %v; want true, nil", ok, err)
			}
		}},
		{"linger limit survives a kick", func(t *testing.T, o *owner) {
			w := o.conn.(*fakeWire)
			limit := time.Now().Add(time.Hour)
			o.setReadLimit(limit)
			lend(t, o)
			o.tryRead(true)
			done := make(chan struct{})
			go func() {
				o.waitFrame(w)
				close(done)
			}()
			<-w.entered
			o.kick()
			<-done
			if !w.limit.Equal(limit) {
				t.Fatalf("read deadline %v, want %v", w.limit, limit)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newOwner(newFakeWire()))
		})
	}
}

// TestOwnerRandomWalk applies random valid sequences of the owner's
// operations (a readLoop and three Reads, each in a state of its own) and
// checks the invariants after every step.
func TestOwnerRandomWalk(t *testing.T) {
	const (
		idle = iota
		holding
		waiting
	)
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		o := newOwner(newFakeWire())
		var reads [3]int
		loopHolds := false
		for step := range 300 {
			i := rng.IntN(len(reads))
			switch op := rng.IntN(6); {
			case op == 0 && !loopHolds:
				st := o.state()
				if !st.lent && st.reader == byNobody {
					o.loopTake(nil, nil)
					loopHolds = true
				}
			case op == 0:
				o.loopRelease(rng.IntN(2) == 0)
				loopHolds = false
			case op == 1 && reads[i] == idle:
				if o.tryRead(rng.IntN(4) > 0) {
					reads[i] = holding
				} else {
					reads[i] = waiting
				}
			case op == 1 && reads[i] == holding:
				o.readDone(rng.IntN(3) > 0)
				reads[i] = idle
			case op == 2 && reads[i] == waiting:
				o.unwait()
				reads[i] = idle
			case op == 3:
				o.reclaim()
			case op == 4:
				o.kick()
			}
			checkOwner(t, o, fmt.Sprintf("seed %d step %d", seed, step))
			// The guarantee itself: a waiting Read has a reader coming.
			st := o.state()
			if st.waiters > 0 && st.reader != byRead && st.reader != byLoop && (st.lent || len(o.loopWake) == 0) {
				t.Fatalf("seed %d step %d: a Read waits and nobody will read (%+v)", seed, step, st)
			}
		}
	}
}

// TestErrFinishedIsNotErrClosed: the end of a finished session and a
// closed stream are different errors.
func TestErrFinishedIsNotErrClosed(t *testing.T) {
	if errors.Is(errFinished, ErrClosed) || errors.Is(ErrClosed, errFinished) {
		t.Fatal("errFinished and ErrClosed compare equal")
	}
	if !errors.Is(errFinished, net.ErrClosed) {
		t.Fatal("errFinished does not match net.ErrClosed")
	}
	// Sentinels of zero size may share an address: none of them may
	// match another.
	sentinels := map[string]error{"ErrTimeout": ErrTimeout, "ErrChecksum": ErrChecksum,
		"ErrClosed": ErrClosed, "errFinished": errFinished, "ErrBrokenPipe": ErrBrokenPipe,
		"ErrConnLost": ErrConnLost, "ErrAborted": ErrAborted, "ErrEncryption": ErrEncryption}
	for an, a := range sentinels {
		for bn, b := range sentinels {
			if an != bn && errors.Is(a, b) {
				t.Errorf("errors.Is(%s, %s)", an, bn)
			}
		}
	}
}
