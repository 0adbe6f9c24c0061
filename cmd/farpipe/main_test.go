package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/testflags"
)

// The tests run this test binary as the farpipe command: with
// FARPIPE_RUN_MAIN set, TestMain runs main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("FARPIPE_RUN_MAIN") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	testflags.NoRaceExitSleep()
	// The tests that call t.Parallel mostly wait: on processes, timeouts,
	// acknowledgement waits, relays.
	testflags.RaiseParallel(2)
	os.Exit(m.Run())
}

// testToken is the token both sides of the tests share, through
// FARPIPE_TOKEN.
const testToken = "test-token-0123456789abcdef"

// command returns a command running farpipe with args, with testToken.
func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "FARPIPE_RUN_MAIN=1", "FARPIPE_TOKEN="+testToken)
	return cmd
}

// withoutToken removes FARPIPE_TOKEN from cmd's environment.
func withoutToken(cmd *exec.Cmd) *exec.Cmd {
	env := cmd.Env[:0]
	for _, kv := range cmd.Env {
		if !strings.HasPrefix(kv, "FARPIPE_TOKEN=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	return cmd
}

// freeAddr returns a loopback address for a farpipe process to listen on:
// a port that is free now, below the kernel's range of ephemeral ports.
// A port from that range (what listening on port 0 gives) can be taken,
// between the moment it is chosen and the moment the process listens, by
// any connection a parallel test opens, as its local port.
func freeAddr(t *testing.T) string {
	t.Helper()
	low := 32768 // Linux's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const first = 10000
	for i := 0; i < 100 && low > first; i++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(first+rand.IntN(low-first)))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{42}).Read(b)
	return b
}

type result struct {
	code   int
	stdout []byte
	stderr string
}

// start starts cmd with stdin and captures its output; wait returns the
// result, or kills a process that has not exited within 60 s and fails. The
// process is killed, and waited for, when the test ends (background).
func start(t *testing.T, cmd *exec.Cmd, stdin io.Reader) (wait func() result) {
	t.Helper()
	done := background(t, cmd, stdin)
	return func() result {
		select {
		case r := <-done:
			return r
		case <-time.After(60 * time.Second):
			cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump on its stderr
			time.Sleep(time.Second)
			cmd.Process.Kill()
			r := <-done
			t.Fatalf("%v did not exit within 60 s; its stderr:\n%s", cmd.Args, r.stderr)
			return result{}
		}
	}
}

func TestTransferBothRoles(t *testing.T) {
	t.Parallel()
	data := randomData(16 << 20)
	for _, tt := range []struct {
		name             string
		sendArgs, recvAr func(addr string) []string
	}{
		{"recv listens", func(a string) []string { return []string{"send", "--wait", "10s", a} },
			func(a string) []string { return []string{"recv", "--listen", a} }},
		{"send listens", func(a string) []string { return []string{"send", "--listen", a} },
			func(a string) []string { return []string{"recv", "--wait", "10s", a} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			recv := start(t, command(t, tt.recvAr(addr)...), nil)
			send := start(t, command(t, append(tt.sendArgs(addr), "-v")...), bytes.NewReader(data))
			s, r := send(), recv()
			if s.code != 0 || r.code != 0 {
				t.Fatalf("send exit %d (%s), recv exit %d (%s)", s.code, s.stderr, r.code, r.stderr)
			}
			if sha256.Sum256(r.stdout) != sha256.Sum256(data) {
				t.Fatalf("received %d bytes that differ from the %d sent", len(r.stdout), len(data))
			}
			if !strings.Contains(s.stderr, fmt.Sprintf("sent %d bytes", len(data))) {
				t.Errorf("-v statistics missing: %q", s.stderr)
			}
		})
	}
}

// TestConsumerGoesAway is "farpipe recv | head -c 100": both sides stop,
// send exits 3 and says how much was delivered.
func TestConsumerGoesAway(t *testing.T) {
	addr := freeAddr(t)
	recv := command(t, "recv", "--listen", addr)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	recv.Stdout = pw
	var recvErr bytes.Buffer
	recv.Stderr = &recvErr
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	// The consumer: read 100 bytes, then go away.
	go func() {
		io.ReadFull(pr, make([]byte, 100))
		pr.Close()
	}()
	// An endless producer.
	send := start(t, command(t, "send", "--wait", "10s", addr), zeros{})
	s := send()
	recv.Wait()
	if s.code != exitBrokenPipe || !strings.Contains(s.stderr, "bytes were delivered") {
		t.Fatalf("send exit %d, stderr %q; want %d and the delivered count", s.code, s.stderr, exitBrokenPipe)
	}
	if code := recv.ProcessState.ExitCode(); code != exitBrokenPipe {
		t.Fatalf("recv exit %d (%s), want %d", code, recvErr.String(), exitBrokenPipe)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestSenderKilled: a sender killed mid-stream must never let recv exit 0;
// recv gives up once the resume timeout has passed.
func TestSenderKilled(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	recv := start(t, command(t, "recv", "--resume-timeout", "1s", "--listen", addr), nil)
	sendCmd := command(t, "send", "--wait", "10s", addr)
	stdin, _ := sendCmd.StdinPipe()
	send := start(t, sendCmd, nil)
	_ = send
	if _, err := stdin.Write(randomData(1 << 20)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	sendCmd.Process.Signal(syscall.SIGKILL)
	r := recv()
	if r.code == 0 {
		t.Fatalf("recv exited 0 after its sender was killed")
	}
	if !strings.HasPrefix(r.stderr, "farpipe: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("recv's error is not one line starting farpipe: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, "did not come back") || !strings.Contains(r.stderr, "bytes were received") {
		t.Errorf("recv's error does not say the peer is gone and how much arrived: %q", r.stderr)
	}
}

// TestSenderInterrupted: SIGINT aborts the session with a reason that the
// receiver reports; neither side exits 0.
func TestSenderInterrupted(t *testing.T) {
	addr := freeAddr(t)
	recv := start(t, command(t, "recv", "--listen", addr), nil)
	sendCmd := command(t, "send", "--wait", "10s", addr)
	stdin, _ := sendCmd.StdinPipe()
	send := start(t, sendCmd, nil)
	stdin.Write(randomData(1 << 20))
	time.Sleep(300 * time.Millisecond)
	sendCmd.Process.Signal(syscall.SIGINT)
	s, r := send(), recv()
	if s.code != 130 {
		t.Errorf("send exit %d (%s), want 130", s.code, s.stderr)
	}
	if r.code != exitPeerAborted || !strings.Contains(r.stderr, "interrupted by SIGINT") {
		t.Errorf("recv exit %d (%s), want %d and the reason", r.code, r.stderr, exitPeerAborted)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"send"},
		{"recv", "a:1", "b:2"},
		{"send", "--no-such-flag", "a:1"},
		{"recv", "--window", "1", "127.0.0.1:1"},
		{"send", "--rate-limit", "fast", "127.0.0.1:1"},
		{"tee", "--rate-limit", "-1MB/s", "127.0.0.1:1"},
		{"pub", "--rate-limit", "0", "nats://127.0.0.1:1/s"},
		{"frobnicate"},
	} {
		r := start(t, command(t, args...), nil)()
		if r.code != exitUsage || !strings.HasPrefix(r.stderr, "farpipe: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d and one line starting farpipe:", args, r.code, r.stderr, exitUsage)
		}
	}
}

func TestNobodyListens(t *testing.T) {
	addr := freeAddr(t)
	r := start(t, command(t, "send", addr), strings.NewReader("x"))()
	if r.code != exitFailure || !strings.Contains(r.stderr, "nothing listens") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestHelpListsExitCodes(t *testing.T) {
	r := start(t, command(t, "--help"), nil)()
	if r.code != 0 || !bytes.Contains(r.stdout, []byte("Exit status:")) {
		t.Fatalf("exit %d, help:\n%s", r.code, r.stdout)
	}
}

func TestDemo(t *testing.T) {
	// The demo re-executes its own binary as send and recv.
	r := start(t, withoutToken(command(t, "demo", "--size", "8MiB")), nil)()
	if r.code != 0 || !bytes.Contains(r.stdout, []byte("identical")) {
		t.Fatalf("demo exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}
