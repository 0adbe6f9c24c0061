package conntest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// maxGrace bounds how long the watchdog waits, after stopping the pipe,
// for a timed-out test case to return before it gives up on it.
const maxGrace = 5 * time.Second

// prompt is how soon a connection must notice what its peer did (a broken
// pipe, a Close): at once in principle, but a race-enabled test binary on
// a loaded machine may not run a goroutine for a second, so the bound only
// tells "promptly" from "after a timeout" (keepalives take far longer).
const prompt = 3 * time.Second

// env is one test case: a fresh pipe, the goroutines of the case, and how
// they report. Test bodies and the goroutines they start with env.run
// report through errorf and fatalf, never through t directly: fatalf works
// from any of them, and reports stop reaching t once the watchdog has given
// up on the case.
type env struct {
	t      *testing.T
	cfg    *Config
	c1, c2 Conn

	// ctx is cancelled when the case is over: it ended, failed fatally or
	// timed out. Every wait of the suite's own selects on it.
	ctx      context.Context
	cancel   context.CancelFunc
	stop     func()
	once     sync.Once
	stopDone chan struct{}  // closed when stop has returned
	wg       sync.WaitGroup // the body and the goroutines it started

	mu       sync.Mutex
	halted   bool // the pipe was stopped: later errors are consequences
	detached bool // the watchdog gave up: t may no longer be used
}

// guard runs body on a fresh pipe under a watchdog (nettest's
// timeoutWrapper, made robust): if the case is still running after the
// timeout, it fails and the pipe is stopped, which must unblock every
// operation; if the case is still blocked grace after that, guard reports
// the goroutines and returns without it.
func (s *suite) guard(t *testing.T, body func(e *env)) {
	t.Helper()
	c1, c2, stop, err := s.mp(t)
	if err != nil {
		t.Fatalf("conntest: making a pipe: %v", err)
	}
	e := &env{t: t, cfg: &s.cfg, c1: c1, c2: c2, stop: stop, stopDone: make(chan struct{})}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.run(func() { body(e) })
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	timeout := s.cfg.timeout()
	grace := min(maxGrace, timeout)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		e.errorf("conntest: still running after %v (a deadlock?): stopping the pipe", timeout)
		e.halt()
		select {
		case <-done:
		case <-time.After(grace):
			e.mu.Lock()
			e.detached = true
			e.mu.Unlock()
			t.Errorf("conntest: still blocked %v after the pipe was stopped: stop does not unblock pending operations; goroutines:\n%s", grace, stacks())
			return
		}
	}
	e.halt()
	select {
	case <-e.stopDone:
	case <-time.After(grace):
		t.Errorf("conntest: the pipe's stop function still running after %v; goroutines:\n%s", grace, stacks())
	}
}

// halt ends the case: it cancels ctx and starts stopping the pipe, once;
// stopDone is closed when that is done.
func (e *env) halt() {
	e.once.Do(func() {
		e.mu.Lock()
		e.halted = true
		e.mu.Unlock()
		e.cancel()
		go func() {
			defer close(e.stopDone)
			e.stop()
		}()
	})
}

// run runs f in a goroutine that the case waits for.
func (e *env) run(f func()) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
}

// errorf reports a failure. Once the pipe has been stopped, failures are
// consequences of an earlier one and are only logged.
func (e *env) errorf(format string, args ...any) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.detached:
	case e.halted:
		e.t.Logf("after the pipe was stopped: "+format, args...)
	default:
		e.t.Errorf(format, args...)
	}
}

// logf logs, unless the watchdog has given up on the case.
func (e *env) logf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.detached {
		e.t.Logf(format, args...)
	}
}

// fatalf reports a failure, stops the pipe and ends the calling goroutine,
// which must be the body or one started with run.
func (e *env) fatalf(format string, args ...any) {
	e.t.Helper()
	e.errorf(format, args...)
	e.halt()
	runtime.Goexit()
}

// recv receives from ch; if the case ends first, it ends the calling
// goroutine (someone else has reported why).
func recv[T any](e *env, ch <-chan T) T {
	select {
	case v := <-ch:
		return v
	case <-e.ctx.Done():
		runtime.Goexit()
		panic("unreachable")
	}
}

// within receives from ch, waiting at most d; ok is false if nothing came.
func within[T any](e *env, d time.Duration, ch <-chan T) (v T, ok bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case v := <-ch:
		return v, true
	case <-t.C:
		return v, false
	case <-e.ctx.Done():
		runtime.Goexit()
		panic("unreachable")
	}
}

// sleep sleeps for d, or ends the calling goroutine if the case ends first.
func (e *env) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.ctx.Done():
		runtime.Goexit()
	}
}

// goErr runs f in a goroutine of the case and returns a channel that
// receives its result.
func (e *env) goErr(f func() error) <-chan error {
	ch := make(chan error, 1)
	e.run(func() { ch <- f() })
	return ch
}

// stacks returns the stacks of all goroutines.
func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// describe formats an error with its type, for failure messages.
func describe(err error) string {
	if err == nil {
		return "nil"
	}
	return fmt.Sprintf("%v (%T)", err, err)
}
