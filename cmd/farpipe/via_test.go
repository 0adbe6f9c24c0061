//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/flow"
	"golang.org/x/sys/unix"
)

// startExecGroup starts "farpipe exec --listen ADDR -- argv" in a process
// group of its own, so that the test can kill it with its commands.
func startExecGroup(t *testing.T, flags []string, argv ...string) (addr string, kill func()) {
	t.Helper()
	addr = freeAddr(t)
	cmd := command(t, append(append(append([]string{"exec", "--listen", addr}, flags...), "--"), argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	kill = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	t.Cleanup(kill)
	return addr, kill
}

// lines makes n numbered lines.
func numberedLines(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("y", i%50))
	}
	return b.Bytes()
}

// TestViaHostKilled: an exec server killed while it runs a chunk; the
// chunk runs again on the other server and the output is complete and in
// order.
func TestViaHostKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "started")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The victim takes its chunk, says so, and never finishes it.
	victim, kill := startExecGroup(t, nil, "sh", "-c", "head -c 100 >/dev/null; echo started > "+fifo+"; exec sleep 600")
	good, _ := startExecGroup(t, nil, "cat")
	input := numberedLines(100000)
	v := &via{
		pool:     newViaPool([]string{victim, good}, 2),
		opts:     []farpipe.Option{farpipe.WithToken(testToken), farpipe.WithResumeTimeout(500 * time.Millisecond), farpipe.WithBackoffMax(100 * time.Millisecond)},
		stderr:   io.Discard,
		attempts: 3,
	}
	defer v.wait()
	waitListening(t, victim, good)
	src, err := flow.NewChunker(bytes.NewReader(input), flow.Config{Block: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- flow.Map(context.Background(), src, &out, flow.MapConfig{Jobs: 4, Hold: true}, v.job) }()
	f, err := os.Open(fifo) // blocks until the victim has a chunk
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(f).ReadString('\n')
	f.Close()
	if line != "started\n" {
		t.Fatalf("victim said %q", line)
	}
	kill()
	if err := <-done; err != nil {
		t.Fatalf("map: %v", err)
	}
	if sha256.Sum256(out.Bytes()) != sha256.Sum256(input) {
		t.Fatalf("output: %d bytes that differ from the %d of the input", out.Len(), len(input))
	}
}

// waitListening waits until every server accepts TCP connections (a
// connection that never completes its handshake starts no command).
func waitListening(t *testing.T, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("exec server %s does not listen: %v", a, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// BenchmarkViaChunk measures what one chunk costs on an exec server: a
// session (TCP, TLS, token proof), the command's start, a 100-byte chunk
// there and back, the exit status; with map --via's window (256 KiB).
func BenchmarkViaChunk(b *testing.B) {
	for _, mode := range []struct {
		name  string
		flags []string
		opts  []farpipe.Option
	}{
		{"TLS", nil, nil},
		{"NoEncrypt", []string{"--no-encrypt"}, []farpipe.Option{farpipe.WithNoEncrypt()}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			t := &testing.T{}
			addr := freeAddr(t)
			srv := command(t, append(append([]string{"exec", "--listen", addr}, mode.flags...), "--", "cat")...)
			if err := srv.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { srv.Process.Kill(); srv.Wait() }()
			v := &via{pool: newViaPool([]string{addr}, 1), opts: append(mode.opts, farpipe.WithToken(testToken), farpipe.WithWindow(256<<10)), stderr: io.Discard}
			defer v.wait()
			chunk := []byte(strings.Repeat("x", 99) + "\n")
			h := v.pool.hosts[0]
			// The first one waits for the server to listen.
			for {
				_, err := v.runOn(context.Background(), h, bytes.NewReader(chunk), io.Discard, io.Discard)
				if err == nil {
					break
				}
			}
			b.ResetTimer()
			for range b.N {
				var out bytes.Buffer
				st, err := v.runOn(context.Background(), h, bytes.NewReader(chunk), &out, io.Discard)
				if err != nil || st.ExitCode() != 0 || !bytes.Equal(out.Bytes(), chunk) {
					b.Fatalf("status %v, error %v, output %q", st, err, out.Bytes())
				}
			}
		})
	}
}

// TestMapViaCLI: farpipe map --via over two servers gives the output of the
// command run on the whole input, in order, even when one server is killed
// while it runs a chunk; and map refuses a command given with --via.
func TestMapViaCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "started")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	victim, kill := startExecGroup(t, nil, "sh", "-c", "head -c 100 >/dev/null; echo started > "+fifo+"; exec sleep 600")
	good, _ := startExecGroup(t, nil, "sed", "s/line/LINE/")
	waitListening(t, victim, good)
	input := numberedLines(200000)
	want := bytes.ReplaceAll(input, []byte("line"), []byte("LINE"))
	mapCmd := command(t, "map", "--via", victim, "--via", good, "-j", "2", "--block", "256KiB", "--resume-timeout", "500ms")
	wait := start(t, mapCmd, bytes.NewReader(input))
	f, err := os.Open(fifo) // blocks until the victim has a chunk
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(f)
	f.Close()
	kill()
	r := wait()
	if r.code != 0 || sha256.Sum256(r.stdout) != sha256.Sum256(want) {
		t.Fatalf("map --via: exit %d, %d bytes of output (want %d, the same as sed's): %s", r.code, len(r.stdout), len(want), r.stderr)
	}
	if !strings.Contains(r.stderr, "running it again on another server") {
		t.Errorf("map did not say that it ran a chunk again: %q", r.stderr)
	}
	u := start(t, command(t, "map", "--via", good, "--", "cat"), nil)()
	if u.code != exitUsage {
		t.Errorf("map --via with a command: exit %d (%s), want %d", u.code, u.stderr, exitUsage)
	}
}

// TestMapViaFailures: a remote command that fails and a refused token are
// reported with their exit statuses.
func TestMapViaFailures(t *testing.T) {
	failing, _ := startExecGroup(t, nil, "sh", "-c", "cat >/dev/null; echo oops >&2; exit 3")
	waitListening(t, failing)
	tests := []struct {
		name     string
		token    string
		flags    []string
		wantCode int
		wantErr  []string
	}{
		{"command fails", testToken, []string{"--retries", "1"}, exitMapFailed,
			[]string{"ended with exit status 3 (2 attempts)", `"oops"`, "first record"}},
		{"wrong token", "wrong-token-0123456789abcdef", nil, exitAuth, []string{"authentication failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := command(t, append([]string{"map", "--via", failing}, tt.flags...)...)
			cmd.Env = append(cmd.Env, "FARPIPE_TOKEN="+tt.token)
			r := start(t, cmd, strings.NewReader("a\nb\n"))()
			if r.code != tt.wantCode {
				t.Errorf("exit %d (%s), want %d", r.code, r.stderr, tt.wantCode)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not say %q", r.stderr, w)
				}
			}
		})
	}
}
