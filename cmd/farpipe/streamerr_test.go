package main

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
)

// TestStreamErrorSignal: pub and sub stopped by a signal say what that
// left behind (not a pipe's "the peer was told") and exit 128+N.
func TestStreamErrorSignal(t *testing.T) {
	stopped := func(sig syscall.Signal) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(&signalError{sig: sig})
		return ctx
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		then string
		want string // in the message; "" for no error
		code int
	}{
		{"sub by SIGTERM", stopped(syscall.SIGTERM), context.Canceled, subStopped, "interrupted by SIGTERM: every record sub wrote out is acknowledged", 143},
		{"pub by SIGINT", stopped(syscall.SIGINT), errors.New("farpipe: reading the input: i/o timeout"), pubStopped, "interrupted by SIGINT: pub stopped without waiting", 130},
		{"signal as the error", context.Background(), &signalError{sig: syscall.SIGHUP}, subStopped, "interrupted by SIGHUP: every record", 129},
		{"no error", stopped(syscall.SIGTERM), nil, subStopped, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := streamError(tc.ctx, tc.err, tc.then)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "peer") {
				t.Fatalf("got %v, want a message with %q", err, tc.want)
			}
			if c := exitCode(err); c != tc.code {
				t.Fatalf("exit status %d, want %d", c, tc.code)
			}
		})
	}
}
