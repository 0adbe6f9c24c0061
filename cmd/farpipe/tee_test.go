package main

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestTeeThreeReceivers: each of three receivers gets every byte exactly
// once, and tee exits 0.
func TestTeeThreeReceivers(t *testing.T) {
	t.Parallel()
	data := randomData(8<<20 + 4321)
	var addrs []string
	var recvs []func() result
	for range 3 {
		a := freeAddr(t)
		addrs = append(addrs, a)
		recvs = append(recvs, start(t, command(t, "recv", "--listen", a), nil))
	}
	tee := start(t, command(t, append([]string{"tee", "-v", "--wait", "10s"}, addrs...)...), bytes.NewReader(data))()
	if tee.code != 0 {
		t.Fatalf("tee exit %d: %s", tee.code, tee.stderr)
	}
	for i, wait := range recvs {
		r := wait()
		if r.code != 0 || sha256.Sum256(r.stdout) != sha256.Sum256(data) {
			t.Errorf("receiver %d: exit %d, %d bytes that differ from the %d sent (%s)", i, r.code, len(r.stdout), len(data), r.stderr)
		}
	}
	for _, a := range addrs {
		if !strings.Contains(tee.stderr, "tee: "+a+": sent ") {
			t.Errorf("-v statistics for %s missing: %q", a, tee.stderr)
		}
	}
}

// TestTeeReceiverKilled: a receiver killed mid-stream makes tee exit 1
// naming it; by default the others are aborted, with --keep-going they get
// everything.
func TestTeeReceiverKilled(t *testing.T) {
	t.Parallel()
	for _, keepGoing := range []bool{false, true} {
		name := map[bool]string{false: "stop", true: "keep going"}[keepGoing]
		t.Run(name, func(t *testing.T) {
			var addrs []string
			var recvs []func() result
			for range 2 {
				a := freeAddr(t)
				addrs = append(addrs, a)
				recvs = append(recvs, start(t, command(t, "recv", "--listen", a), nil))
			}
			// The victim writes into a pipe, so that the test knows when
			// bytes have reached it.
			victimAddr := freeAddr(t)
			victim := command(t, "recv", "--listen", victimAddr)
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			victim.Stdout = pw
			if err := victim.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { victim.Process.Kill() })
			pw.Close()
			defer pr.Close()

			args := []string{"tee", "--wait", "10s", "--resume-timeout", "1s", "--backoff-max", "100ms"}
			if keepGoing {
				args = append(args, "--keep-going")
			}
			teeCmd := command(t, append(args, addrs[0], victimAddr, addrs[1])...)
			stdin, err := teeCmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			tee := start(t, teeCmd, nil)
			first := randomData(1 << 20)
			if _, err := stdin.Write(first); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(pr, make([]byte, 1000)); err != nil {
				t.Fatalf("the victim received nothing: %v", err)
			}
			victim.Process.Signal(syscall.SIGKILL)
			victim.Wait()
			// More than the window: the write to the victim blocks until
			// its resume timeout, so that nobody can finish before.
			rest := randomData(24 << 20)
			stdin.Write(rest) // fails once tee has given up: that is fine
			stdin.Close()
			r := tee()
			if r.code != exitFailure || !strings.Contains(r.stderr, "receiver "+victimAddr+" failed") {
				t.Errorf("tee exit %d, stderr %q; want %d naming %s", r.code, r.stderr, exitFailure, victimAddr)
			}
			want := sha256.Sum256(append(first, rest...))
			for i, wait := range recvs {
				got := wait()
				switch {
				case keepGoing && (got.code != 0 || sha256.Sum256(got.stdout) != want):
					t.Errorf("receiver %d: exit %d, %d bytes (%s); want 0 and every byte", i, got.code, len(got.stdout), got.stderr)
				case !keepGoing && (got.code != exitPeerAborted || !strings.Contains(got.stderr, victimAddr)):
					t.Errorf("receiver %d: exit %d (%s); want %d and the failed receiver's address", i, got.code, got.stderr, exitPeerAborted)
				}
			}
		})
	}
}

// TestTeeUsage: tee needs an address and cannot listen.
func TestTeeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"tee"},
		{"tee", "--listen", "127.0.0.1:1"},
	} {
		r := start(t, command(t, args...), nil)()
		if r.code != exitUsage || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d", args, r.code, r.stderr, exitUsage)
		}
	}
}
