package conntest

import (
	"io"
	"testing"
	"time"
)

// testDeadlines checks deadlines beyond what nettest.TestConn does: a past
// deadline fails at once without sending or consuming anything, and a
// deadline reset to zero, before or while a Read waits, makes Read block
// again until data comes.
func testDeadlines(t *testing.T, s *suite) {
	for _, tc := range []struct {
		name string
		fn   func(e *env, w, r Conn)
	}{
		{"PastRead", deadlinePastRead},
		{"PastWrite", deadlinePastWrite},
		{"ResetPending", deadlineResetPending},
	} {
		t.Run(tc.name, func(t *testing.T) { s.both(t, tc.fn) })
	}
}

// atOnce is how fast an operation with a past deadline must fail.
const atOnce = 500 * time.Millisecond

// deadlinePastRead: Read with a past deadline fails at once with a timeout;
// reset to zero, Read blocks until the writer writes, later.
func deadlinePastRead(e *env, w, r Conn) {
	r.SetReadDeadline(time.Now().Add(-time.Second))
	start := time.Now()
	n, err := r.Read(make([]byte, 16))
	if d := time.Since(start); d > atOnce {
		e.errorf("reader: Read with a past deadline took %v; want it to fail at once", d.Round(time.Millisecond))
	}
	if msg := timeoutErr(err); msg != "" || n != 0 {
		e.errorf("reader: Read with a past deadline: n=%d, %s", n, msg)
	}
	r.SetReadDeadline(time.Time{})
	later(e, w, 100*time.Millisecond, "later")
	readExactly(e, r, "later", "reader: Read after its deadline was reset to zero")
}

// deadlinePastWrite: Write with a past deadline fails at once with a
// timeout and sends nothing; reset to zero, Write works again.
func deadlinePastWrite(e *env, w, r Conn) {
	w.SetWriteDeadline(time.Now().Add(-time.Second))
	start := time.Now()
	n, err := w.Write([]byte("lost"))
	if d := time.Since(start); d > atOnce {
		e.errorf("writer: Write with a past deadline took %v; want it to fail at once", d.Round(time.Millisecond))
	}
	if msg := timeoutErr(err); msg != "" || n != 0 {
		e.errorf("writer: Write with a past deadline: n=%d, %s; want n=0 and a timeout", n, msg)
	}
	w.SetWriteDeadline(time.Time{})
	if _, err := w.Write([]byte("kept")); err != nil {
		e.fatalf("writer: Write after its deadline was reset to zero: %s", describe(err))
	}
	if err := w.CloseWrite(); err != nil {
		e.fatalf("writer: CloseWrite: %s", describe(err))
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "kept" {
		e.errorf("reader: ReadAll: %q, %s; want \"kept\": nothing of the timed-out Write", got, describe(err))
	}
}

// deadlineResetPending: a Read waits with a deadline 1 s away; at 50 ms
// the deadline is reset to zero; the Read must not time out and must
// return what the writer writes at 1.2 s. (The margins leave a loaded
// machine time to run the goroutine that resets the deadline.)
func deadlineResetPending(e *env, w, r Conn) {
	r.SetReadDeadline(time.Now().Add(time.Second))
	e.run(func() {
		e.sleep(50 * time.Millisecond)
		r.SetReadDeadline(time.Time{})
	})
	later(e, w, 1200*time.Millisecond, "after the old deadline")
	readExactly(e, r, "after the old deadline", "reader: Read pending while its deadline was reset to zero")
}

// later writes msg to w after d, in a goroutine of the case.
func later(e *env, w Conn, d time.Duration, msg string) {
	e.run(func() {
		e.sleep(d)
		if _, err := w.Write([]byte(msg)); err != nil {
			e.fatalf("writer: Write: %s", describe(err))
		}
	})
}

// readExactly reads len(want) bytes from r and checks them.
func readExactly(e *env, r Conn, want, what string) {
	got := make([]byte, len(want))
	n, err := io.ReadFull(r, got)
	if err != nil {
		e.fatalf("%s: got %q, then %s; want %q", what, got[:n], describe(err), want)
	}
	if string(got) != want {
		e.errorf("%s: got %q, want %q", what, got, want)
	}
}
