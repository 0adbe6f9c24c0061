//go:build unix

package proc_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/testproc"

	"github.com/farpipe/farpipe/proc"
)

// procGoroutines returns the stacks of the goroutines running the function
// fn of package proc, once none is left or after a few seconds: Serve and
// Attach wait for their goroutines, which may still be returning from their
// last deferred call when they do.
func procGoroutines(fn string) []string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "github.com/farpipe/farpipe/proc."+fn) {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkNoGoroutines fails t if goroutines of fn outlive it.
func checkNoGoroutines(t *testing.T, who, fn string) {
	t.Helper()
	if left := procGoroutines(fn); len(left) > 0 {
		t.Fatalf("%s returned and left %d goroutines running:\n%s", who, len(left), strings.Join(left, "\n\n"))
	}
}

// TestServeStopsWhenContextEnds cancels Serve's context at each stage: it
// returns ErrTerminated, the command and what it started are gone, and so
// are Serve's goroutines, while the session still runs.
func TestServeStopsWhenContextEnds(t *testing.T) {
	tests := []struct {
		name  string
		argv  []string
		ready string // the line the command prints once at the stage
	}{
		{"before the start", []string{"cat"}, ""},
		{"command reads its input", []string{"sh", "-c", "echo ready; exec cat"}, "ready\n"},
		{"command ignores SIGTERM", []string{"sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.05; done`}, "ready\n"},
		{"command exited, its child holds the output", []string{"sh", "-c", "sleep 1000 & echo $!"}, "pid"},
		{"output waits for the client", []string{"sh", "-c", "echo ready; yes"}, "ready\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := pair(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.ready == "" {
				cancel()
			}
			type served struct {
				st  proc.Status
				err error
			}
			done := make(chan served, 1)
			go func() {
				st, err := proc.Serve(ctx, tt.argv, streams(server))
				done <- served{st, err}
			}()
			pid := 0
			if tt.ready != "" {
				// The client never reads past this line: with "yes", the
				// window fills and the command's output waits.
				line, err := bufio.NewReaderSize(client.Channel(0), 16).ReadString('\n')
				if err != nil {
					t.Fatalf("the command did not start: %v", err)
				}
				if tt.ready == "pid" {
					pid, _ = strconv.Atoi(strings.TrimSpace(line))
				}
				cancel()
			}
			var r served
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Serve did not return after its context ended")
			}
			if !errors.Is(r.err, proc.ErrTerminated) || !errors.Is(r.err, context.Canceled) {
				t.Errorf("Serve: %v (status %v); want ErrTerminated and the context's cause", r.err, r.st)
			}
			checkNoGoroutines(t, "Serve", "(*running)")
			if pid != 0 && !testproc.Gone(pid, 10*time.Second) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("the command's child %d outlived Serve", pid)
			}
		})
	}
}

// TestAttachStops: Attach returns, with all of its goroutines ended, when
// the command ends while standard input stays open (like a local pipe),
// and when its context ends at any stage.
func TestAttachStops(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		cancel  string // "": the command's end; "before"; "after:LINE"
		wantOut string
		wantErr error
		status  int
	}{
		{"the command ends, stdin stays open", []string{"sh", "-c", "echo hi; exit 5"}, "", "hi\n", nil, 5},
		{"a command that ignores its input ends", []string{"grep", "-m1", "ERROR"}, "", "ERROR 1\n", nil, 0},
		{"context ended before", []string{"cat"}, "before", "", context.Canceled, 0},
		{"context ends while the command runs", []string{"sh", "-c", "echo ready; sleep 1000"}, "after:ready\n", "ready\n", context.Canceled, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := pair(t)
			sctx, stopServe := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { _, err := proc.Serve(sctx, tt.argv, streams(server)); served <- err }()
			defer func() { stopServe(); <-served }()

			// Standard input: a pipe that the test never closes.
			stdinR, stdinW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdinW.Close()
			defer stdinR.Close()
			stdinW.Write([]byte("ERROR 1\nERROR 2\n"))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel == "before" {
				cancel()
			}
			stdout := &watchWriter{want: strings.TrimPrefix(tt.cancel, "after:"), seen: make(chan struct{})}
			if !strings.HasPrefix(tt.cancel, "after:") {
				stdout.want = ""
			}
			watch := stdout.want != ""
			type attached struct {
				st  proc.Status
				err error
			}
			done := make(chan attached, 1)
			go func() {
				st, err := proc.Attach(ctx, streams(client), stdinR, stdout, io.Discard, nil)
				done <- attached{st, err}
			}()
			if watch {
				<-stdout.seen
				cancel()
			}
			var r attached
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Attach did not return")
			}
			if !errors.Is(r.err, tt.wantErr) || (tt.wantErr == nil && r.st.ExitCode() != tt.status) || stdout.String() != tt.wantOut {
				t.Errorf("Attach: status %v, err %v, output %q; want status %d, err %v, output %q",
					r.st, r.err, stdout.String(), tt.status, tt.wantErr, tt.wantOut)
			}
			checkNoGoroutines(t, "Attach", "(*attached)")
		})
	}
}

// watchWriter collects output and closes seen once it has want.
type watchWriter struct {
	strings.Builder
	want string
	seen chan struct{}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	n, err := w.Builder.Write(p)
	if w.want != "" && strings.Contains(w.String(), w.want) {
		w.want = ""
		close(w.seen)
	}
	return n, err
}
