// Package deadline gives a custom connection working read and write
// deadlines, with the recipe of net/pipe.go: a Deadline is a channel that
// is closed when the deadline passes (by a time.AfterFunc timer), and made
// anew when the deadline is reset after it passed.
//
// A blocking call selects on Wait next to its other events and returns its
// timeout error once the channel is closed; a call about to start checks
// Expired first. Set may be called at any time from any goroutine: a call
// that waits on the channel it got from Wait is woken when a later Set puts
// the deadline in the past or lets its timer fire, because Set replaces the
// channel only once it is closed (and every waiter has been woken).
//
// The package starts no goroutine of its own; each timer runs its closing
// function once, in the goroutine time.AfterFunc gives it, and Set waits for
// that function when it stops a timer that has already fired.
//
// A Deadline's lock is a leaf: nothing is locked under it, and it may be
// taken under any other lock.
package deadline
