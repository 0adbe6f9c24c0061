package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
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
	t.Cleanup(func() { cmd.Process.Kill() }) // if the test failed before its end
	return addr, cmd, wait
}

// startPiped starts cmd with standard input and output pipes for the test:
// standard input stays open until the test closes it. wait returns the exit
// status and standard error, or fails after 60 s.
func startPiped(t *testing.T, cmd *exec.Cmd) (stdin *os.File, stdout *bufio.Reader, wait func() result) {
	t.Helper()
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdinW.Close()
		if cmd.Process != nil {
			cmd.Process.Kill() // if the test failed before its end
		}
	})
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outR.Close() })
	cmd.Stdin, cmd.Stdout = stdinR, outW
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdinR.Close()
	outW.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return stdinW, bufio.NewReader(outR), func() result {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Signal(syscall.SIGQUIT)
			time.Sleep(time.Second)
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v did not exit within 60 s; its stderr:\n%s", cmd.Args, stderr.String())
		}
		return result{code: cmd.ProcessState.ExitCode(), stderr: stderr.String()}
	}
}

func connect(t *testing.T, addr string, stdin io.Reader) result {
	t.Helper()
	return start(t, command(t, "connect", "--wait", "10s", addr), stdin)()
}

func TestExecFilters(t *testing.T) {
	t.Parallel()
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
		// SIGPIPE kills yes (141), as in a shell: exec does not pass on an
		// ignored SIGPIPE, which would make yes fail with EPIPE (1) instead.
		{"SIGPIPE has its default action", []string{"bash", "-c", `yes | head -1 >/dev/null; echo "${PIPESTATUS[0]}"`}, nil, "141\n", "", 0},
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

// TestExecRejectsWait: --wait does nothing for exec: a usage error.
func TestExecRejectsWait(t *testing.T) {
	r := start(t, command(t, "exec", "--wait", "5s", "--listen", "127.0.0.1:0", "--", "cat"), nil)()
	if r.code != exitUsage || !strings.Contains(r.stderr, "--wait") {
		t.Fatalf("exit %d, %q; want %d", r.code, r.stderr, exitUsage)
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
