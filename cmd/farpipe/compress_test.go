package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCompressCLI: --compress zstd on a listener compresses for a peer
// that did not ask (exec and connect stay interactive: each line comes
// back before the next is written), and send/recv deliver every byte.
func TestCompressCLI(t *testing.T) {
	t.Run("exec and connect stay interactive", func(t *testing.T) {
		addr, _, wait := startExec(t, []string{"--once", "--compress", "zstd"}, "cat")
		stdin, stdout, done := startPiped(t, command(t, "connect", "--wait", "10s", addr))
		for i := range 5 {
			line := fmt.Sprintf("line %d\n", i)
			stdin.WriteString(line)
			got := make(chan string, 1)
			go func() { s, _ := stdout.ReadString('\n'); got <- s }()
			select {
			case s := <-got:
				if s != line {
					t.Fatalf("echo %q, want %q", s, line)
				}
			case <-time.After(20 * time.Second):
				stdin.Close()
				t.Fatalf("line %d did not come back within 20 s", i)
			}
		}
		stdin.Close()
		if r, e := done(), wait(); r.code != 0 || e.code != 0 {
			t.Fatalf("connect exit %d (%s), exec exit %d (%s)", r.code, r.stderr, e.code, e.stderr)
		}
	})
	t.Run("send and recv", func(t *testing.T) {
		var logs bytes.Buffer
		for i := 0; logs.Len() < 4<<20; i++ {
			fmt.Fprintf(&logs, "2026-11-30 INFO request id=%d path=/api/items/%d status=200\n", i, i%1000)
		}
		addr := freeAddr(t)
		recv := start(t, command(t, "recv", "-q", "--listen", addr), nil)
		s := start(t, command(t, "send", "-v", "--compress", "zstd", "--wait", "10s", addr), bytes.NewReader(logs.Bytes()))()
		r := recv()
		if s.code != 0 || r.code != 0 || !bytes.Equal(r.stdout, logs.Bytes()) {
			t.Fatalf("send exit %d (%s), recv exit %d (%s), %d of %d bytes out", s.code, s.stderr, r.code, r.stderr, len(r.stdout), logs.Len())
		}
		if !strings.Contains(s.stderr, "compressed with zstd") || !strings.Contains(s.stderr, fmt.Sprintf("sent %d bytes", logs.Len())) {
			t.Fatalf("send -v says:\n%s", s.stderr)
		}
		t.Log(s.stderr)
	})
}
