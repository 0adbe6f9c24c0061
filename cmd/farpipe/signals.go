package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Signals are handled by one mechanism for every command. run makes one
// context for the whole process with withSignals: the first SIGINT, SIGTERM
// or SIGHUP cancels it with a *signalError as its cause, so every stage that
// blocks on it (listening for the peer, dialing with --wait, the handshake,
// the transfer, the drain) stops at once, and the exit status is 128+N. A
// stage that gives signals another meaning takes them over with takeSignals
// for as long as it runs: connect forwards them to the remote command, exec
// stops accepting and drains.

// signalHub routes the process's signals: to the stage that took them, or
// else to the cancellation of the process's context.
type signalHub struct {
	mu     sync.Mutex
	taken  chan os.Signal // set while a stage handles signals itself
	cancel context.CancelCauseFunc
}

type signalHubKey struct{}

// withSignals returns the process's context; stop releases the signals and
// waits for the goroutine that routes them.
func withSignals(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	h := &signalHub{cancel: cancel}
	ctx = context.WithValue(ctx, signalHubKey{}, h)
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case s := <-ch:
				h.deliver(s)
			case <-quit:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(quit)
		<-done
		cancel(nil)
	}
}

func (h *signalHub) deliver(s os.Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.taken != nil {
		select {
		case h.taken <- s:
		default: // the stage has four unread: it is busy ending
		}
		return
	}
	h.cancel(&signalError{sig: s.(syscall.Signal)})
}

// takeSignals makes the signals that ctx's process receives arrive on sigs
// instead of cancelling ctx, until release. A signal that came before has
// already cancelled ctx: check ctx after taking them.
func takeSignals(ctx context.Context) (sigs <-chan os.Signal, release func()) {
	h, _ := ctx.Value(signalHubKey{}).(*signalHub)
	if h == nil {
		return nil, func() {}
	}
	ch := make(chan os.Signal, 4)
	h.mu.Lock()
	h.taken = ch
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		h.taken = nil
		h.mu.Unlock()
	}
}
