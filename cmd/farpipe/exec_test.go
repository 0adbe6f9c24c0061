package main

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startExec starts "farpipe exec --listen ADDR [extra] -- argv" and waits
// until it listens.
func startExec(t *testing.T, extra []string, argv ...string) (addr string, cmd *exec.Cmd, wait func() result) {
	t.Helper()
	addr = freeAddr(t)
	args := append(append([]string{"exec", "-v", "--listen", addr}, extra...), "--")
	cmd = command(t, append(args, argv...)...)
	wait = start(t, cmd, nil)
	return addr, cmd, wait
}

func connect(t *testing.T, addr string, stdin io.Reader) result {
	t.Helper()
	return start(t, command(t, "connect", "--wait", "10s", addr), stdin)()
}

func TestExecFilters(t *testing.T) {
	var seq bytes.Buffer
	for i := 1; i <= 1000000; i++ {
		seq.WriteString(strconv.Itoa(i))
		seq.WriteByte('\n')
	}
	tests := []struct {
		name       string
		argv       []string
		stdin      io.Reader
		wantOut    string // suffix of stdout
		wantErr    string // substring of stderr
		wantStatus int
	}{
		{"sort", []string{"sort", "-rn"}, bytes.NewReader(seq.Bytes()), "\n1\n", "", 0},
		{"exit status", []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, nil, "out\n", "err", 7},
		{"killed", []string{"sh", "-c", "kill -9 $$"}, nil, "", "", 137},
		{"EOF on stdin, output goes on", []string{"sh", "-c", "cat; echo after-eof"}, strings.NewReader("abc\n"), "abc\nafter-eof\n", "", 0},
		{"no such command", []string{"/no/such/command"}, nil, "", "cannot run", 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _, wait := startExec(t, []string{"--once"}, tt.argv...)
			r := connect(t, addr, tt.stdin)
			e := wait()
			if r.code != tt.wantStatus || !strings.HasSuffix(string(r.stdout), tt.wantOut) || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("connect: exit %d, stdout ...%q, stderr %q; want exit %d, stdout ...%q, stderr containing %q",
					r.code, tail(r.stdout), r.stderr, tt.wantStatus, tt.wantOut, tt.wantErr)
			}
			if e.code != 0 {
				t.Errorf("exec --once: exit %d: %s", e.code, e.stderr)
			}
		})
	}
}

func tail(b []byte) string {
	if len(b) > 40 {
		b = b[len(b)-40:]
	}
	return string(b)
}

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
// lets both finish, accepts nobody new meanwhile, and exits 0.
func TestExecGracefulShutdown(t *testing.T) {
	addr, server, wait := startExec(t, nil, "sh", "-c", "sleep 1; echo finished")
	results := make(chan result, 2)
	for range 2 {
		go func() { results <- connect(t, addr, nil) }()
	}
	time.Sleep(500 * time.Millisecond) // both commands are running
	server.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	late := connect(t, addr, nil)
	for range 2 {
		r := <-results
		if r.code != 0 || string(r.stdout) != "finished\n" {
			t.Errorf("running session: exit %d, %q, %s", r.code, r.stdout, r.stderr)
		}
	}
	if late.code == 0 {
		t.Errorf("a session started after SIGTERM was served: %q", late.stdout)
	}
	if e := wait(); e.code != 0 {
		t.Errorf("server exit %d: %s", e.code, e.stderr)
	}
}

// TestConnectConsumerGoesAway: "farpipe connect | head -1" against an
// endless remote command ends everything.
func TestConnectConsumerGoesAway(t *testing.T) {
	addr, _, wait := startExec(t, []string{"--once"}, "yes")
	c := command(t, "connect", "--wait", "10s", addr)
	out, _ := c.StdoutPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	out.Close()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.Process.Kill()
		t.Fatal("connect did not stop after its consumer went away")
	}
	if line != "y\n" {
		t.Errorf("first line %q", line)
	}
	if e := wait(); e.code != 0 {
		t.Errorf("exec exit %d: %s", e.code, e.stderr)
	}
}
