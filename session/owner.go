package session

import (
	"errors"
	"os"
	"sync"
	"time"
)

// owner decides who reads a connection and who writes it.
//
// Writing: whoever holds wmu writes; that is the writeLoop, or a small
// Write that found the connection idle and wmu free (Session.writeNow). A
// Write that does not get wmu wakes the writeLoop instead (Session.wake
// holds the wake-up until the writeLoop looks), so nothing written waits.
//
// Reading is a token with three possible holders: nobody, the readLoop, or
// one Read that waits for data and reads the connection itself (readDirect)
// so that a small message costs no switch between goroutines. After a small
// DATA frame woke a waiting Read, the readLoop lends reading to Reads
// (loopRelease with lend): it then parks until reading is taken back, and
// the next Read that has to wait takes the token (tryRead) and reads one
// frame at a time. The state below, under mu, obeys:
//
//  1. reader == byLoop implies !lent: the readLoop reads only when reading
//     is not lent.
//  2. lent and waiters > 0 imply reader == byRead: while some Read sleeps
//     waiting for frames, reading stays lent only as long as another Read
//     holds the token, and that Read's readDone takes lending back.
//  3. Whenever !lent and reader == byNobody, loopWake holds a wake-up for
//     the readLoop, or the readLoop has just taken one and is about to
//     look: every change that can make it so signals loopWake, and the
//     readLoop, woken, looks again before it parks.
//
// Together: a Read that sleeps waiting for frames (counted in waiters)
// always has someone about to read them, the readLoop or the Read that
// holds the token. Anything else that needs frames read (a Write waiting
// for acknowledgements, Drain, the supervisor's tick, a kick) calls
// reclaim. Every operation is one critical section; there is no TryLock on
// the read side.
//
// The kick interrupts a Read that holds the token and waits for the next
// frame to begin (waitFrame) by setting the connection's read deadline in
// the past, so that the Read looks at its stream again: its deadline
// changed, it was closed, the session is being aborted. It never interrupts
// a frame half read.
//
// Lock order: wmu and mu are independent; mu is taken after Session.mu and
// is a leaf but for conn.SetReadDeadline.
type owner struct {
	wmu sync.Mutex

	mu       sync.Mutex
	lent     bool   // reading is lent to Reads: the readLoop parks
	reader   holder // who holds the read token
	waiters  int    // Reads asleep waiting for frames from this connection
	peeking  bool   // the token's Read waits in waitFrame
	kicked   bool   // that Read must stop waiting and look again
	rdLimit  time.Time
	conn     readDeadliner
	loopWake chan struct{} // cap 1: the readLoop should look at the state
}

// holder is who holds the read token.
type holder uint8

const (
	byNobody holder = iota
	byLoop
	byRead
)

// readDeadliner is the part of a connection the kick needs.
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// frameWaiter waits until the next frame's first bytes can be read
// (wire.Reader).
type frameWaiter interface {
	Buffered() int
	Wait() error
}

func newOwner(conn readDeadliner) *owner {
	o := &owner{conn: conn, loopWake: make(chan struct{}, 1)}
	signal(o.loopWake) // invariant 3: the readLoop is to read first
	return o
}

// lockWrite, tryLockWrite and unlockWrite take and give back writing.
func (o *owner) lockWrite()         { o.wmu.Lock() }
func (o *owner) tryLockWrite() bool { return o.wmu.TryLock() }
func (o *owner) unlockWrite()       { o.wmu.Unlock() }

// loopTake waits until the readLoop may read (reading is not lent and no
// Read holds the token) and gives it the token. Once stop or end is closed,
// reading is taken back for good and loopTake returns as soon as the Read
// holding the token, if any, gives it back: the readLoop then reads until
// the connection fails.
func (o *owner) loopTake(stop, end <-chan struct{}) {
	for {
		o.mu.Lock()
		if !o.lent && o.reader == byNobody {
			o.reader = byLoop
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		select {
		case <-o.loopWake:
		case <-stop:
			stop, end = nil, nil
			o.reclaim()
		case <-end:
			stop, end = nil, nil
			o.reclaim()
		}
	}
}

// loopRelease gives back the token the readLoop held for one frame. With
// lend (the frame woke a Read that waited for a small message), reading is
// lent to Reads, unless another Read still sleeps waiting for frames, which
// only the readLoop is sure to read.
func (o *owner) loopRelease(lend bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reader = byNobody
	o.lent = lend && o.waiters == 0
	if !o.lent {
		signal(o.loopWake)
	}
}

// tryRead is called by a Read about to sleep for want of data. It reports
// true if the Read now holds the token and must read one frame
// (readDirect, then readDone). Otherwise the Read is counted as waiting
// until unwait and someone else reads for it. A Read that must not sit in
// a frame (it has a deadline: direct false) takes reading back instead.
func (o *owner) tryRead(direct bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lent && o.reader == byNobody && direct {
		o.reader = byRead
		o.kicked = false // kicks before now were seen by the Read's checks
		return true
	}
	o.waiters++
	if o.lent && !direct {
		o.reclaimLocked()
	}
	return false
}

// unwait ends the wait of a Read counted by tryRead: it woke up, or the
// frame it waited for arrived.
func (o *owner) unwait() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.waiters > 0 {
		o.waiters--
	}
}

// addWaiters counts n Reads that were asleep before this connection
// existed: they wait for frames from it.
func (o *owner) addWaiters(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waiters += n
	if n > 0 && o.lent {
		o.reclaimLocked()
	}
}

// readDone gives back the token of a Read after readDirect. Reading stays
// lent if keep (the frame was a small message, or none came) and no other
// Read sleeps waiting for frames; otherwise the readLoop takes it back.
func (o *owner) readDone(keep bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reader = byNobody
	if !keep || o.waiters > 0 {
		o.lent = false
	}
	if !o.lent {
		signal(o.loopWake)
	}
}

// reclaim takes reading back for the readLoop: frames are needed and
// perhaps no Read will come to read them.
func (o *owner) reclaim() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reclaimLocked()
}

func (o *owner) reclaimLocked() {
	o.lent = false
	if o.reader != byRead {
		signal(o.loopWake)
	}
	// Otherwise the Read's readDone wakes the readLoop.
}

// kick makes the Read holding the token, if it waits for the next frame to
// begin, stop waiting and look at its stream again, and takes reading
// back.
func (o *owner) kick() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.kicked = true
	if o.peeking {
		o.conn.SetReadDeadline(time.Unix(1, 0)) // in the past: the wait ends now
	}
	o.reclaimLocked()
}

// waitFrame waits, kickably, until the next frame's first bytes can be
// read; the caller holds the token as a Read. It reports false if the Read
// was kicked (nothing was consumed) or err if the connection failed.
func (o *owner) waitFrame(rd frameWaiter) (ok bool, err error) {
	if rd.Buffered() > 0 {
		return true, nil
	}
	o.mu.Lock()
	if o.kicked {
		o.kicked = false
		o.mu.Unlock()
		return false, nil
	}
	o.peeking = true
	o.mu.Unlock()
	err = rd.Wait()
	o.mu.Lock()
	o.peeking = false
	kicked := o.kicked
	if kicked {
		o.kicked = false
		o.conn.SetReadDeadline(o.rdLimit)
	}
	o.mu.Unlock()
	if kicked && (err == nil || errors.Is(err, os.ErrDeadlineExceeded)) {
		return false, nil
	}
	return err == nil, err
}

// setReadLimit sets the connection's read deadline outside kicks (the
// linger of a half-closed connection).
func (o *owner) setReadLimit(t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rdLimit = t
	o.conn.SetReadDeadline(t)
}

// ownerState is a snapshot of an owner, for tests.
type ownerState struct {
	lent    bool
	reader  holder
	waiters int
	peeking bool
}

func (o *owner) state() ownerState {
	o.mu.Lock()
	defer o.mu.Unlock()
	return ownerState{lent: o.lent, reader: o.reader, waiters: o.waiters, peeking: o.peeking}
}
