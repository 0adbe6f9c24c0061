package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// readyWriter collects a process's stderr and closes ready when a ready
// line of farpipe relay is complete. It is safe for concurrent use.
type readyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	once  sync.Once
	ready chan struct{}
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if readyLine.Match(w.buf.Bytes()) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *readyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// relayProcess is a running "farpipe relay".
type relayProcess struct {
	cmd    *exec.Cmd
	stderr *readyWriter
	exited chan struct{} // closed when cmd.Wait has returned
	url    string        // from the ready line
}

var readyLine = regexp.MustCompile(`(?m)^farpipe: relay ready: use (nats://\S+) \(--relay (nats://\S+)\).*\n`)

// startRelayProcess runs farpipe relay with args (and a temporary store)
// and waits for its ready line; the process is killed, and waited for,
// when the test ends.
func startRelayProcess(t *testing.T, env []string, args ...string) *relayProcess {
	t.Helper()
	cmd := command(t, append([]string{"relay", "--store", t.TempDir()}, args...)...)
	// TestMain (testflags.NoRaceExitSleep) spares it the race detector's
	// second of sleep at exit, so the time to stop that the tests log is
	// farpipe's.
	cmd.Env = append(cmd.Env, env...)
	p := &relayProcess{cmd: cmd, stderr: &readyWriter{ready: make(chan struct{})}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // owned by the cleanup, which waits for exited
		defer close(p.exited)
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	select {
	case <-p.stderr.ready:
	case <-p.exited:
		t.Fatalf("farpipe relay exited %d before it was ready: %s", cmd.ProcessState.ExitCode(), p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("farpipe relay was not ready within 60 s: %s", p.stderr)
	}
	m := readyLine.FindStringSubmatch(p.stderr.String())
	if m == nil || m[1] != m[2] {
		t.Fatalf("not a ready line: %q", p.stderr)
	}
	p.url = m[1]
	return p
}

// stop sends sig and returns the exit status and how long the process took
// to exit; it fails if it has not within 10 s.
func (p *relayProcess) stop(t *testing.T, sig syscall.Signal) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("farpipe relay did not exit within 10 s of %v: %s", sig, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

func TestRelayCommandSignals(t *testing.T) {
	for _, tt := range []struct {
		name string
		sig  syscall.Signal
		args []string
	}{
		{"SIGTERM", syscall.SIGTERM, nil},
		{"SIGINT", syscall.SIGINT, nil},
		{"SIGTERM verbose with websocket, cluster and limits", syscall.SIGTERM,
			[]string{"-v", "--websocket", "127.0.0.1:0", "--cluster", "127.0.0.1:0",
				"--max-store", "1GiB", "--max-memory", "64MiB", "--max-connections", "100", "--max-payload", "256KiB"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startRelayProcess(t, nil, append([]string{"--listen", "127.0.0.1:0"}, tt.args...)...)
			if !strings.HasPrefix(p.url, "nats://127.0.0.1:") || strings.HasSuffix(p.url, ":0") {
				t.Fatalf("the ready line names %q, not the actual loopback port", p.url)
			}
			nc, err := nats.Connect(p.url, nats.Timeout(10*time.Second), nats.NoReconnect())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			sub, err := nc.SubscribeSync("relay.cmd")
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Publish("relay.cmd", []byte("through the relay")); err != nil {
				t.Fatal(err)
			}
			if m, err := sub.NextMsg(10 * time.Second); err != nil || string(m.Data) != "through the relay" {
				t.Fatalf("got %v, %v", m, err)
			}
			code, took := p.stop(t, tt.sig)
			t.Logf("exited %d %v after %v", code, tt.sig, took)
			if code != 0 {
				t.Fatalf("exit %d after %v, want 0: %s", code, tt.sig, p.stderr)
			}
			if !slices.Contains(tt.args, "-v") && strings.Count(p.stderr.String(), "\n") != 1 {
				t.Errorf("without -v, more than the ready line on stderr: %q", p.stderr)
			}
		})
	}
}

func TestRelayCommandAuth(t *testing.T) {
	dir := t.TempDir()
	tokenFile, passFile := filepath.Join(dir, "token"), filepath.Join(dir, "password")
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passFile, []byte("file-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		env   []string
		args  []string
		right nats.Option
		wrong nats.Option
	}{
		{"token flag", nil, []string{"--token", "flag-token"}, nats.Token("flag-token"), nats.Token("other")},
		{"token from the environment", []string{envRelayToken + "=env-token"}, nil, nats.Token("env-token"), nats.Token("other")},
		{"token file", nil, []string{"--token-file", tokenFile}, nats.Token("file-token"), nats.Token("file-token\n")},
		{"user and password file", nil, []string{"--user", "u", "--password-file", passFile},
			nats.UserInfo("u", "file-pass"), nats.UserInfo("u", "other")},
		{"user and password from the environment", []string{envRelayPassword + "=env-pass"}, []string{"--user", "u"},
			nats.UserInfo("u", "env-pass"), nats.UserInfo("u", "other")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startRelayProcess(t, tt.env, append([]string{"--listen", "127.0.0.1:0"}, tt.args...)...)
			for _, opts := range [][]nats.Option{{tt.wrong}, nil} {
				if nc, err := nats.Connect(p.url, append(opts, nats.NoReconnect())...); err == nil {
					nc.Close()
					t.Fatal("a client with wrong or no credentials was let in")
				}
			}
			nc, err := nats.Connect(p.url, tt.right, nats.NoReconnect())
			if err != nil {
				t.Fatalf("refused the right credentials: %v", err)
			}
			nc.Close()
			if code, _ := p.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit %d: %s", code, p.stderr)
			}
		})
	}
}

func TestRelayCommandErrors(t *testing.T) {
	taken := startRelayProcess(t, nil, "--listen", "127.0.0.1:0")
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"an argument", []string{"extra"}, exitUsage, "takes no arguments"},
		{"unknown flag", []string{"--bogus"}, exitUsage, "unknown flag"},
		{"listen not host:port", []string{"--listen", "4222"}, exitUsage, "not host:port"},
		{"routes without cluster", []string{"--routes", "nats://127.0.0.1:6222"}, exitUsage, "--cluster"},
		{"malformed route", []string{"--cluster", "127.0.0.1:0", "--routes", "http://x:1"}, exitUsage, "route"},
		{"token and user", []string{"--token", "t", "--user", "u", "--password", "p"}, exitUsage, "not both"},
		{"token and token file", []string{"--token", "t", "--token-file", file}, exitUsage, "not both"},
		{"empty token file", []string{"--token-file", file}, exitUsage, "one line"},
		{"missing token file", []string{"--token-file", file + ".missing"}, exitUsage, "--token-file"},
		{"user without password", []string{"--user", "u"}, exitUsage, "password"},
		{"max payload too big", []string{"--max-payload", "1GiB"}, exitUsage, "--max-payload"},
		{"max payload not a size", []string{"--max-payload", "lots"}, exitUsage, "--max-payload"},
		{"max store not a size", []string{"--max-store", "big"}, exitUsage, "--max-store"},
		{"port in use", []string{"--listen", strings.TrimPrefix(taken.url, "nats://")}, exitFailure, "cannot listen"},
		{"store is a file", []string{"--store", file}, exitFailure, "store"},
		{"page not host:port", []string{"--http", "8222"}, exitUsage, "--http"},
		{"page port in use", []string{"--http", strings.TrimPrefix(taken.url, "nats://")}, exitFailure, "--http"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"relay", "--listen", "127.0.0.1:0", "--store", t.TempDir()}, tt.args...)
			r := start(t, command(t, args...), nil)()
			if r.code != tt.code || !oneLineErr(r.stderr) || !strings.Contains(r.stderr, tt.says) {
				t.Fatalf("exit %d, stderr %q; want exit %d and one line saying %q", r.code, r.stderr, tt.code, tt.says)
			}
		})
	}
}
