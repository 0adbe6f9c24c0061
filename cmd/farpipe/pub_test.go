package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/farpipe/farpipe/broker/brokertest"
	"github.com/farpipe/farpipe/relay"
)

// oneLineError checks that stderr is one line starting "farpipe:".
func oneLineError(t *testing.T, stderr string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "farpipe: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr is not one line starting \"farpipe: \": %q", stderr)
	}
}

func TestPubSubUsage(t *testing.T) {
	r := startStreamRelay(t, relay.Config{})
	addr := r.ClientURL() + "/usage"
	for _, args := range [][]string{
		{"pub"},
		{"pub", addr, addr},
		{"pub", "nats://127.0.0.1:1"},
		{"pub", "kafka://127.0.0.1/"},
		{"pub", "kafka://127.0.0.1/a/b"},
		{"pub", "127.0.0.1:4222/x"},
		{"pub", r.ClientURL() + "/a.b"},
		{"pub", "--replicas", "9", addr},
		{"pub", "--append", addr},
		{"pub", "--id", "a b", addr},
		{"pub", "--max-message", "10", addr},
		{"pub", "--max-bytes", "lots", addr},
		{"pub", "-0", "--recend", "x", addr},
		{"sub"},
		{"sub", "--from", "yesterday", addr},
		{"sub", "--durable", "x.y", addr},
		{"sub", "--group", "a", "--durable", "b", addr},
		{"sub", "--max-pending", "0", addr},
		{"sub", "-o", "out.txt", addr},
		{"sub", "--sync", "--durable", "d", addr},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res := start(t, command(t, args...), strings.NewReader(""))()
			if res.code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", res.code, exitUsage, res.stderr)
			}
			oneLineError(t, res.stderr)
		})
	}
}

func TestPubSubRecords(t *testing.T) {
	r := startStreamRelay(t, relay.Config{})
	big := strings.Repeat("long record ", 20000) + "\n" // in pieces
	for _, tt := range []struct {
		name      string
		in        string
		pubArgs   []string
		subArgs   []string
		want      string
		streamArg string
	}{
		{"lines", "a\nb\n" + big + "c", nil, nil, "a\nb\n" + big + "c", "lines"},
		{"nul", "a\x00b b\x00", []string{"-0"}, nil, "a\x00b b\x00", "nul"},
		{"recend", "a;;b;;c", []string{"--recend", ";;"}, nil, "a;;b;;c", "recend"},
		{"label", "x\ny\n", []string{"--id", "web1"}, []string{"--label"}, "web1\tx\nweb1\ty\n", "label"},
		{"empty input", "", nil, nil, "", "empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := r.ClientURL() + "/" + tt.streamArg
			p := start(t, command(t, append(append([]string{"pub", "-v"}, tt.pubArgs...), addr)...), strings.NewReader(tt.in))()
			if p.code != 0 {
				t.Fatalf("pub exited %d: %s", p.code, p.stderr)
			}
			s := start(t, command(t, append(append([]string{"sub"}, tt.subArgs...), addr)...), nil)()
			if s.code != 0 || string(s.stdout) != tt.want {
				t.Fatalf("sub exited %d with %.80q, want %.80q: %s", s.code, s.stdout, tt.want, s.stderr)
			}
		})
	}
}

// TestPubFull: a stream smaller than the input. pub fails with one line
// saying the stream is full; the records stored are a prefix of the input,
// with no gap (later messages that fit are removed), and pub says from
// which record on nothing is stored.
func TestPubFull(t *testing.T) {
	r := startStreamRelay(t, relay.Config{})
	addr := r.ClientURL() + "/small"
	in := brokertest.Lines("p", 20000, 100) // 2 MB
	p := start(t, command(t, "pub", "--id", "p", "--max-bytes", "256KiB", addr), bytes.NewReader(in))()
	if p.code != exitFailure || !strings.Contains(p.stderr, "full") {
		t.Fatalf("pub into a full stream exited %d, want %d with \"full\": %s", p.code, exitFailure, p.stderr)
	}
	oneLineError(t, p.stderr)
	if !strings.Contains(p.stderr, "are not stored") {
		t.Errorf("pub does not say which records are not stored: %s", p.stderr)
	}
	s := start(t, command(t, "sub", addr), nil)()
	if s.code != 0 || len(s.stdout) == 0 || !bytes.HasPrefix(in, s.stdout) {
		t.Fatalf("sub exited %d with %d bytes, want a prefix of the input: %s", s.code, len(s.stdout), s.stderr)
	}
}

// TestPubKilledRestarted: a publisher killed (SIGKILL) in the middle of its
// input and started again with the same --id and input stores every
// record once.
func TestPubKilledRestarted(t *testing.T) {
	t.Parallel()
	r := startStreamRelay(t, relay.Config{})
	addr := r.ClientURL() + "/restart"
	in := brokertest.Lines("p", 50000, 60)
	half := len(brokertest.Lines("p", 25000, 60))
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	makeStream(t, addr)
	watch := startStreamProc(t, command(t, "sub", "--follow", addr), nil)
	pub := startStreamProc(t, command(t, "pub", "--id", "p", "--max-message", "4KiB", addr), pr)
	pr.Close()
	if _, err := pw.Write(in[:half]); err != nil {
		t.Fatal(err)
	}
	watch.waitLines(t, 10000) // pub is publishing
	pub.cmd.Process.Signal(syscall.SIGKILL)
	pub.wait(t)
	pw.Close()
	again := start(t, command(t, "pub", "-v", "--id", "p", addr), bytes.NewReader(in))()
	if again.code != 0 || !strings.Contains(again.stderr, "skipped") {
		t.Fatalf("the restarted pub exited %d: %s", again.code, again.stderr)
	}
	watch.waitLines(t, 50000)
	watch.cmd.Process.Signal(syscall.SIGTERM)
	_, out := watch.wait(t)
	s := start(t, command(t, "sub", addr), nil)()
	for name, got := range map[string][]byte{"sub --follow": out, "sub": s.stdout} {
		if !bytes.Equal(got, in) {
			t.Errorf("%s got %d bytes (%d lines), want the input's %d (50000 lines)", name, len(got), bytes.Count(got, []byte("\n")), len(in))
		}
	}
}

// TestPubSignal: a pub waiting for input stops at SIGTERM, exit 143.
func TestPubSignal(t *testing.T) {
	r := startStreamRelay(t, relay.Config{})
	addr := r.ClientURL() + "/sig"
	makeStream(t, addr)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	watch := startStreamProc(t, command(t, "sub", "--follow", addr), nil)
	pub := startStreamProc(t, command(t, "pub", addr), pr)
	pr.Close()
	pw.Write([]byte("one\n"))
	watch.waitLines(t, 1) // pub runs, and waits for more input
	pub.cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := pub.wait(t); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("pub exited %d after SIGTERM, want %d: %s", code, 128+int(syscall.SIGTERM), pub.stderr.String())
	}
}

var _ = io.Discard
