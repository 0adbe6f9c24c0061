//go:build unix

package main

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFifo: recv --fifo makes a named pipe a program can read by name, and
// send --fifo one it can write by name; both are gone afterwards.
func TestFifo(t *testing.T) {
	data := randomData(8 << 20)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	addr := freeAddr(t)
	recv := start(t, command(t, "recv", "--listen", addr, "--fifo", out), nil)
	send := start(t, command(t, "send", "--wait", "10s", addr, "--fifo", in), nil)
	waitFor := func(p string) {
		for range 100 {
			if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s did not appear as a named pipe", p)
	}
	waitFor(in)
	waitFor(out)
	go func() { // a program that only takes a file name, writing
		f, err := os.OpenFile(in, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		f.Write(data)
		f.Close()
	}()
	f, err := os.Open(out) // and one reading
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	s, r := send(), recv()
	if s.code != 0 || r.code != 0 || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("send exit %d (%s), recv exit %d (%s), %d bytes", s.code, s.stderr, r.code, r.stderr, len(got))
	}
	for _, p := range []string{in, out} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there", p)
		}
	}
}

// TestFifoRefusesExistingFile: --fifo never replaces a file.
func TestFifoRefusesExistingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "precious")
	os.WriteFile(p, []byte("keep me"), 0o600)
	r := start(t, command(t, "recv", "--listen", freeAddr(t), "--fifo", p), nil)()
	if b, _ := os.ReadFile(p); r.code == 0 || string(b) != "keep me" || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("exit %d, %q; file now %q", r.code, r.stderr, b)
	}
}

// TestFifoRemovedAfterSignal: the named pipe goes when recv is interrupted.
func TestFifoRemovedAfterSignal(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	cmd := command(t, "recv", "--listen", freeAddr(t), "--fifo", p)
	wait := start(t, cmd, nil)
	for range 100 {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	if r := wait(); r.code != 130 {
		t.Errorf("exit %d (%s), want 130", r.code, r.stderr)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("the named pipe is still there after SIGINT")
	}
}

// TestProgress: --progress=always draws on stderr even when it is not a
// terminal, with the size and percentage of a regular file.
func TestProgress(t *testing.T) {
	data := randomData(4 << 20)
	file := filepath.Join(t.TempDir(), "data")
	os.WriteFile(file, data, 0o600)
	f, _ := os.Open(file)
	defer f.Close()
	addr := freeAddr(t)
	recv := start(t, command(t, "recv", "--listen", addr), nil)
	s := start(t, command(t, "send", "--wait", "10s", "--progress=always", addr), f)()
	r := recv()
	if s.code != 0 || r.code != 0 || !bytes.Equal(r.stdout, data) {
		t.Fatalf("send exit %d (%s), recv exit %d", s.code, s.stderr, r.code)
	}
	// The final line: every byte delivered, in the units of --size.
	if !strings.Contains(s.stderr, "4.0 MiB / 4.0 MiB 100%") {
		t.Errorf("no progress with percentage in binary units on stderr: %q", s.stderr)
	}
	// -p alone stays quiet when stderr is not a terminal.
	addr = freeAddr(t)
	recv = start(t, command(t, "recv", "--listen", addr), nil)
	s = start(t, command(t, "send", "--wait", "10s", "-p", addr), bytes.NewReader(data))()
	recv()
	if s.stderr != "" {
		t.Errorf("-p drew on a stderr that is not a terminal: %q", s.stderr)
	}
}
