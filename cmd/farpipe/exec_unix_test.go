//go:build unix

package main

// The tests of exec and connect that send signals (forwarded, graceful
// shutdown, the drain timeout): unix only.

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/testproc"
)

// TestConnectForwardsSIGINT: SIGINT to connect reaches the remote command,
// which traps it, says so and exits 3.
func TestConnectForwardsSIGINT(t *testing.T) {
	addr, _, wait := startExec(t, []string{"--once"}, "sh", "-c",
		`trap 'echo got-INT; exit 3' INT; echo ready; while :; do sleep 0.05; done`)
	c := command(t, "connect", "--wait", "10s", addr)
	out, _ := c.StdoutPipe()
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	if line, _ := br.ReadString('\n'); line != "ready\n" {
		t.Fatalf("remote command did not start: %q (%s)", line, stderr.String())
	}
	c.Process.Signal(syscall.SIGINT)
	rest, _ := io.ReadAll(br)
	c.Wait()
	wait()
	if string(rest) != "got-INT\n" || c.ProcessState.ExitCode() != 3 {
		t.Fatalf("after SIGINT: output %q, exit %d (%s); want got-INT and 3", rest, c.ProcessState.ExitCode(), stderr.String())
	}
}

// TestExecGracefulShutdown: SIGTERM to a server with two commands running
// lets both finish, accepts nobody new meanwhile, and exits 143.
func TestExecGracefulShutdown(t *testing.T) {
	t.Parallel()
	addr, server, wait := startExec(t, nil, "sh", "-c", "echo started; read line; echo finished")
	type session struct {
		stdin io.WriteCloser
		wait  func() result
	}
	var sessions []session
	for range 2 {
		stdin, out, w := startPiped(t, command(t, "connect", "--wait", "10s", addr))
		if line, _ := out.ReadString('\n'); line != "started\n" {
			t.Fatalf("the command did not start: %q", line)
		}
		sessions = append(sessions, session{stdin, w})
	}
	server.Process.Signal(syscall.SIGTERM)
	late := connect(t, addr, nil) // refused: nothing listens any more, or busy
	if late.code == 0 {
		t.Errorf("a session started after SIGTERM was served: %q", late.stdout)
	}
	for _, s := range sessions {
		s.stdin.Write([]byte("go on\n"))
		s.stdin.Close()
		if r := s.wait(); r.code != 0 {
			t.Errorf("running session: exit %d, %s", r.code, r.stderr)
		}
	}
	if e := wait(); e.code != 128+int(syscall.SIGTERM) {
		t.Errorf("server exit %d, want 143: %s", e.code, e.stderr)
	}
}

// TestExecDrainTimeout: when --drain-timeout runs out, exec ends what it
// started (SIGTERM, then SIGKILL for a command that ignores it; children
// included), tells the peers why at once, and exits 1.
func TestExecDrainTimeout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		argv []string
	}{
		{"a command", []string{"sh", "-c", "echo $$; exec sleep 1000"}},
		{"a command that ignores SIGTERM", []string{"sh", "-c", `trap "" TERM; echo $$; while :; do sleep 0.1; done`}},
		{"a child of the command", []string{"sh", "-c", "sleep 1000 & echo $!; wait"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, server, wait := startExec(t, []string{"--drain-timeout", "1s"}, tt.argv...)
			// Standard input is never closed: connect waits for the command.
			_, out, w := startPiped(t, command(t, "connect", "--wait", "10s", addr))
			line, _ := out.ReadString('\n')
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("no pid from the command: %q", line)
			}
			server.Process.Signal(syscall.SIGTERM)
			r, e := w(), wait()
			if r.code != exitPeerAborted || !strings.Contains(r.stderr, "drain-timeout") {
				t.Errorf("connect: exit %d, %q; want %d and the reason", r.code, r.stderr, exitPeerAborted)
			}
			if e.code != exitFailure || !strings.Contains(e.stderr, "drain-timeout 1s ran out") {
				t.Errorf("exec: exit %d, %q; want %d and why", e.code, e.stderr, exitFailure)
			}
			if !testproc.Gone(pid, 10*time.Second) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("process %d that exec started outlived it", pid)
			}
		})
	}
}

// TestConnectFollowsCommand: like a local pipe, connect ends with the
// remote command, without waiting for its own standard input (a pipe that
// the test never closes), and delivers all of its output first.
func TestConnectFollowsCommand(t *testing.T) {
	for _, tt := range []struct {
		name    string
		argv    []string
		signal  syscall.Signal // sent to connect once the output begins
		wantOut string
		code    int
	}{
		{"the command exits", []string{"sh", "-c", "echo hi; exit 5"}, 0, "hi\n", 5},
		{"grep -m1 finds its line", []string{"grep", "-m1", "ERROR"}, 0, "ERROR 1\n", 0},
		{"a forwarded SIGINT ends it", []string{"sh", "-c", "echo ready; exec sleep 1000"}, syscall.SIGINT, "ready\n", 130},
		{"a forwarded SIGTERM ends it", []string{"sh", "-c", "echo ready; exec sleep 1000"}, syscall.SIGTERM, "ready\n", 143},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, _, wait := startExec(t, []string{"--once"}, tt.argv...)
			c := command(t, "connect", "--wait", "10s", addr)
			stdin, out, w := startPiped(t, c) // the test never closes stdin
			stdin.Write([]byte("INFO 0\nERROR 1\nERROR 2\n"))
			first, _ := out.ReadString('\n')
			if tt.signal != 0 {
				c.Process.Signal(tt.signal)
			}
			restc := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(out); restc <- b }() // until connect exits
			r := w()
			rest := <-restc
			if got := first + string(rest); got != tt.wantOut || r.code != tt.code {
				t.Errorf("output %q, exit %d (%s); want %q, %d", got, r.code, r.stderr, tt.wantOut, tt.code)
			}
			wait()
		})
	}
}
