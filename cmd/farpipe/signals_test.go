package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stderrWatch collects a command's standard error and tells when a line
// containing a given text has appeared.
type stderrWatch struct {
	mu   sync.Mutex
	buf  strings.Builder
	wake chan struct{} // closed and remade on every write
}

func newStderrWatch() *stderrWatch { return &stderrWatch{wake: make(chan struct{})} }

func (w *stderrWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	close(w.wake)
	w.wake = make(chan struct{})
	return len(p), nil
}

func (w *stderrWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor waits until text appears, failing t after 30 s.
func (w *stderrWatch) waitFor(t *testing.T, text string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		w.mu.Lock()
		seen, wake := strings.Contains(w.buf.String(), text), w.wake
		w.mu.Unlock()
		if seen {
			return
		}
		select {
		case <-wake:
		case <-timeout:
			t.Fatalf("no %q on standard error within 30 s: %q", text, w.String())
		}
	}
}

// stage starts the commands of one row and returns, once the process to
// signal is at the stage, that process, its standard error and the exit
// status wanted after sig.
type stage func(t *testing.T, sig syscall.Signal) (target *exec.Cmd, stderr *stderrWatch, want int)

// startWatched starts farpipe with args, its standard error watched and
// standard input and output as given (nil: /dev/null); the process is
// killed at the end of the test if still running.
func startWatched(t *testing.T, stdin, stdout *os.File, args ...string) (*exec.Cmd, *stderrWatch) {
	t.Helper()
	cmd := command(t, args...)
	w := newStderrWatch()
	cmd.Stderr = w
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waits.Store(cmd, exited)
	return cmd, w
}

// waits maps each command of startWatched to the channel closed when it
// has exited.
var waits sync.Map

func exitedOf(cmd *exec.Cmd) <-chan struct{} {
	ch, _ := waits.Load(cmd)
	return ch.(chan struct{})
}

// pipe returns a pipe whose ends the test closes at its end.
func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// listening: a command that listens, waiting for its peer.
func listening(verb string, tail ...string) stage {
	return func(t *testing.T, sig syscall.Signal) (*exec.Cmd, *stderrWatch, int) {
		stdin, _ := pipe(t)
		cmd, w := startWatched(t, stdin, nil, append([]string{verb, "-v", "--listen", freeAddr(t)}, tail...)...)
		w.waitFor(t, "listening on")
		return cmd, w, 128 + int(sig)
	}
}

// dialing: a command that dials with --wait a port where connections are
// accepted and closed at once, so that it retries; the second connection
// shows that it does.
func dialing(verb string) stage {
	return func(t *testing.T, sig syscall.Signal) (*exec.Cmd, *stderrWatch, int) {
		ln := tcpListener(t)
		stdin, _ := pipe(t)
		cmd, w := startWatched(t, stdin, nil, verb, "--wait", "60s", ln.Addr().String())
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
		return cmd, w, 128 + int(sig)
	}
}

// handshaking: a command that has dialed a port where nobody answers its
// handshake.
func handshaking(verb string) stage {
	return func(t *testing.T, sig syscall.Signal) (*exec.Cmd, *stderrWatch, int) {
		ln := tcpListener(t)
		stdin, _ := pipe(t)
		cmd, w := startWatched(t, stdin, nil, verb, ln.Addr().String())
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return cmd, w, 128 + int(sig)
	}
}

func tcpListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// transferring: send and recv in the middle of a stream that never ends
// (send's standard input stays open); which is the one to signal. With
// drained, send's input ends after 4 MiB while recv's output is no longer
// read, so that send waits for the delivery of the rest.
func transferring(which string, drained bool) stage {
	return func(t *testing.T, sig syscall.Signal) (*exec.Cmd, *stderrWatch, int) {
		addr := freeAddr(t)
		outR, outW := pipe(t)
		recv, rw := startWatched(t, nil, outW, "recv", "-v", "--listen", addr)
		rw.waitFor(t, "listening on")
		inR, inW := pipe(t)
		send, sw := startWatched(t, inR, nil, "send", "--wait", "10s", addr)
		data := randomData(4 << 20)
		if drained {
			go func() { inW.Write(data); inW.Close() }()
		} else {
			go inW.Write(data)
		}
		if _, err := bufio.NewReader(outR).ReadByte(); err != nil { // bytes arrive
			t.Fatal(err)
		}
		if which == "send" {
			return send, sw, 128 + int(sig)
		}
		return recv, rw, 128 + int(sig)
	}
}

// connected: connect in the middle of a session with "exec -- cat"; the
// forwarded signal ends cat, and connect exits with cat's status.
func connected(t *testing.T, sig syscall.Signal) (*exec.Cmd, *stderrWatch, int) {
	addr := freeAddr(t)
	_, ew := startWatched(t, nil, nil, "exec", "-v", "--once", "--listen", addr, "--", "cat")
	ew.waitFor(t, "listening on")
	inR, inW := pipe(t)
	outR, outW := pipe(t)
	cmd, w := startWatched(t, inR, outW, "connect", "--wait", "10s", addr)
	inW.Write([]byte("echo\n"))
	if line, err := bufio.NewReader(outR).ReadString('\n'); err != nil || line != "echo\n" {
		t.Fatalf("cat did not answer: %q, %v", line, err)
	}
	return cmd, w, 128 + int(sig)
}

// execServing: exec with a command running; the first signal starts the
// drain, and the second ends it: exec exits with the second.
func execServing(t *testing.T, sig syscall.Signal) (*exec.Cmd, *stderrWatch, int) {
	addr := freeAddr(t)
	exe, ew := startWatched(t, nil, nil, "exec", "-v", "--listen", addr, "--", "cat")
	ew.waitFor(t, "listening on")
	inR, inW := pipe(t)
	outR, outW := pipe(t)
	startWatched(t, inR, outW, "connect", "--wait", "10s", addr)
	inW.Write([]byte("echo\n"))
	if line, err := bufio.NewReader(outR).ReadString('\n'); err != nil || line != "echo\n" {
		t.Fatalf("cat did not answer: %q, %v", line, err)
	}
	exe.Process.Signal(sig)
	ew.waitFor(t, "no new peers")
	return exe, ew, 128 + int(sig)
}

// execHandshake: exec with a peer that connected and says nothing.
func execHandshake(t *testing.T, sig syscall.Signal) (*exec.Cmd, *stderrWatch, int) {
	addr := freeAddr(t)
	exe, ew := startWatched(t, nil, nil, "exec", "-v", "--listen", addr, "--", "cat")
	ew.waitFor(t, "listening on")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return exe, ew, 128 + int(sig)
}

// TestSignalsAtEveryStage: SIGINT and SIGTERM end every command at every
// stage with 128+N, promptly (a watchdog, not a timing assertion).
func TestSignalsAtEveryStage(t *testing.T) {
	const noPeer = "no peer had connected: nothing was transferred"
	stages := []struct {
		name string
		run  stage
		says string // in its error, when set
	}{
		{"send listening", listening("send"), noPeer},
		{"recv listening", listening("recv"), noPeer},
		{"connect listening", listening("connect"), noPeer},
		{"exec listening", listening("exec", "--", "cat"), ""},
		{"send dialing with --wait", dialing("send"), ""},
		{"recv dialing with --wait", dialing("recv"), ""},
		{"connect dialing with --wait", dialing("connect"), ""},
		{"send in the handshake", handshaking("send"), ""},
		{"recv in the handshake", handshaking("recv"), ""},
		{"connect in the handshake", handshaking("connect"), ""},
		{"exec with a peer in the handshake", execHandshake, ""},
		{"send transferring", transferring("send", false), ""},
		{"recv transferring", transferring("recv", false), ""},
		{"send waiting for delivery", transferring("send", true), ""},
		{"connect with a command running", connected, ""},
		{"exec serving, second signal", execServing, ""},
	}
	for _, st := range stages {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(st.name+"/"+signalName(sig), func(t *testing.T) {
				cmd, stderr, want := st.run(t, sig)
				cmd.Process.Signal(sig)
				select {
				case <-exitedOf(cmd):
				case <-time.After(20 * time.Second):
					cmd.Process.Signal(syscall.SIGQUIT)
					t.Fatalf("%v did not exit within 20 s of %s; stderr: %q", cmd.Args, signalName(sig), stderr.String())
				}
				if got := cmd.ProcessState.ExitCode(); got != want {
					t.Errorf("%v: exit %d after %s, want %d; stderr: %q", cmd.Args, got, signalName(sig), want, stderr.String())
				}
				if !strings.Contains(stderr.String(), st.says) {
					t.Errorf("%v: after %s, stderr %q does not say %q", cmd.Args, signalName(sig), stderr.String(), st.says)
				}
			})
		}
	}
}
