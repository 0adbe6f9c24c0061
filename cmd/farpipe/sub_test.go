package main

import (
	"strings"
	"syscall"
	"testing"

	"github.com/farpipe/farpipe/broker/brokertest"
	"github.com/farpipe/farpipe/relay"
)

func TestSubFrom(t *testing.T) {
	r := startStreamRelay(t, relay.Config{})
	addr := r.ClientURL() + "/from"
	for _, rec := range []string{"one\n", "two\n", "three\n"} {
		if p := start(t, command(t, "pub", "--id", "a", "--append", addr), strings.NewReader(rec))(); p.code != 0 {
			t.Fatalf("pub exited %d: %s", p.code, p.stderr)
		}
	}
	for _, tt := range []struct{ from, want string }{
		{"start", "one\ntwo\nthree\n"},
		{"new", ""},
		{"2", "two\nthree\n"},
		{"4", ""},
		{"1h", "one\ntwo\nthree\n"},
		{"2000-01-01T00:00:00Z", "one\ntwo\nthree\n"},
	} {
		t.Run(tt.from, func(t *testing.T) {
			s := start(t, command(t, "sub", "--from", tt.from, addr), nil)()
			if s.code != 0 || string(s.stdout) != tt.want {
				t.Fatalf("sub --from %s exited %d with %q, want %q: %s", tt.from, s.code, s.stdout, tt.want, s.stderr)
			}
		})
	}
}

// TestSubBrokenPipe is "farpipe sub | head -1": sub exits 3.
func TestSubBrokenPipe(t *testing.T) {
	r := startStreamRelay(t, relay.Config{})
	addr := r.ClientURL() + "/epipe"
	if p := start(t, command(t, "pub", addr), strings.NewReader(string(brokertest.Lines("p", 100000, 50))))(); p.code != 0 {
		t.Fatalf("pub exited %d: %s", p.code, p.stderr)
	}
	sub := command(t, "sub", addr)
	out, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sub.Stderr = &stderr
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	out.Read(make([]byte, 10))
	out.Close()
	sub.Wait()
	if code := sub.ProcessState.ExitCode(); code != exitBrokenPipe {
		t.Fatalf("sub into a closed pipe exited %d, want %d: %s", code, exitBrokenPipe, stderr.String())
	}
	oneLineError(t, stderr.String())
}

func TestSubNoStream(t *testing.T) {
	r := startStreamRelay(t, relay.Config{})
	res := start(t, command(t, "sub", r.ClientURL()+"/nosuch"), nil)()
	if res.code != exitFailure || !strings.Contains(res.stderr, "no such stream") {
		t.Fatalf("sub of a stream that does not exist exited %d, want %d: %s", res.code, exitFailure, res.stderr)
	}
	oneLineError(t, res.stderr)
}

func TestSubRelayUnreachable(t *testing.T) {
	addr := "nats://" + freeAddr(t) + "/s"
	for _, cmd := range []string{"sub", "pub"} {
		res := start(t, command(t, cmd, addr), strings.NewReader("x\n"))()
		if res.code != exitFailure {
			t.Errorf("%s with no relay exited %d, want %d: %s", cmd, res.code, exitFailure, res.stderr)
		}
		oneLineError(t, res.stderr)
	}
}

var _ = syscall.SIGTERM
