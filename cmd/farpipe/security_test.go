package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"time"
)

// TestOneTimeAddress: a listener without a token prints the command for the
// other host; that command, pasted as is, completes the pipe.
func TestOneTimeAddress(t *testing.T) {
	for _, listener := range []string{"recv", "send"} {
		t.Run(listener+" listens", func(t *testing.T) {
			data := randomData(1 << 20)
			lcmd := withoutToken(command(t, listener, "--listen", freeAddr(t)))
			stderr, _ := lcmd.StderrPipe()
			var lout bytes.Buffer
			lcmd.Stdout = &lout
			if listener == "send" {
				lcmd.Stdin = bytes.NewReader(data)
			}
			if err := lcmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Read stderr until the printed command.
			sc := bufio.NewScanner(stderr)
			var line string
			for sc.Scan() {
				if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "farpipe ") {
					line = l
					break
				}
			}
			go io.Copy(io.Discard, stderr)
			f := strings.Fields(line)
			want := map[string]string{"recv": "send", "send": "recv"}[listener]
			if len(f) != 3 || f[1] != want || !strings.HasPrefix(f[2], "fp://") || !strings.Contains(f[2], "/#") {
				t.Fatalf("printed %q, want farpipe %s fp://HOST:PORT/#TOKEN", line, want)
			}
			var in io.Reader
			if want == "send" {
				in = bytes.NewReader(data)
			}
			peer := start(t, withoutToken(command(t, f[1:]...)), in)()
			done := make(chan error, 1)
			go func() { done <- lcmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				lcmd.Process.Kill()
				t.Fatal("listener did not exit")
			}
			out := lout.Bytes()
			if want == "recv" {
				out = peer.stdout
			}
			if peer.code != 0 || lcmd.ProcessState.ExitCode() != 0 || sha256.Sum256(out) != sha256.Sum256(data) {
				t.Fatalf("peer exit %d (%s), listener exit %d, %d bytes arrived", peer.code, peer.stderr, lcmd.ProcessState.ExitCode(), len(out))
			}
		})
	}
}

// TestWrongToken: both sides exit 6 at once, and recv writes nothing.
func TestWrongToken(t *testing.T) {
	for _, mode := range [][]string{nil, {"--no-encrypt"}} {
		addr := freeAddr(t)
		recv := start(t, command(t, append([]string{"recv", "--listen", addr}, mode...)...), nil)
		sendCmd := command(t, append([]string{"send", "--wait", "10s", addr}, mode...)...)
		sendCmd.Env = append(sendCmd.Env, "FARPIPE_TOKEN=another-token-0123456789")
		s := start(t, sendCmd, strings.NewReader("secret payload"))()
		r := recv()
		if s.code != exitAuth || r.code != exitAuth {
			t.Errorf("%v: send exit %d (%s), recv exit %d (%s); want %d for both", mode, s.code, s.stderr, r.code, r.stderr, exitAuth)
		}
		if len(r.stdout) != 0 {
			t.Errorf("%v: recv wrote %q", mode, r.stdout)
		}
	}
}

// TestNoEncrypt: --no-encrypt on both sides works and -v says so; on one
// side only it fails with a message that says what to do.
func TestNoEncrypt(t *testing.T) {
	addr := freeAddr(t)
	data := randomData(4 << 20)
	recv := start(t, command(t, "recv", "--no-encrypt", "--listen", addr), nil)
	s := start(t, command(t, "send", "-v", "--no-encrypt", "--wait", "10s", addr), bytes.NewReader(data))()
	r := recv()
	if s.code != 0 || r.code != 0 || sha256.Sum256(r.stdout) != sha256.Sum256(data) {
		t.Fatalf("send exit %d (%s), recv exit %d (%s)", s.code, s.stderr, r.code, r.stderr)
	}
	if !strings.Contains(s.stderr, "encryption is off") {
		t.Errorf("-v does not say that encryption is off: %q", s.stderr)
	}

	// On one side only: both sides exit 8 and say which flag to change
	// (TestEncryptionMismatch has both directions).
	addr = freeAddr(t)
	recv = start(t, command(t, "recv", "--resume-timeout", "0", "--listen", addr), nil)
	s = start(t, command(t, "send", "--no-encrypt", "--wait", "10s", addr), strings.NewReader("x"))()
	if s.code != exitEncryption || !strings.Contains(s.stderr, "drop --no-encrypt here") {
		t.Errorf("mismatched --no-encrypt: send exit %d, %q", s.code, s.stderr)
	}
	if r := recv(); r.code != exitEncryption || len(r.stdout) != 0 {
		t.Errorf("listener after a mismatched peer: exit %d (%s), %q", r.code, r.stderr, r.stdout)
	}
}
