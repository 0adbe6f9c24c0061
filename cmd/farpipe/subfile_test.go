package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/farpipe/farpipe/internal/testrabbit"
	"github.com/farpipe/farpipe/relay"
)

// TestSubFileMillionLines: 1,000,000 lines through kafka:// (kfake, an
// in-process Kafka cluster), amqp:// (a private rabbitmq-server) and
// nats:// (the relay's JetStream), read by a durable sub writing to a file
// (-o FILE) that is killed with SIGKILL three times while the publisher
// runs, each time once the file has grown past another quarter of the
// input, and started again: the file is the input, byte for byte (every
// line exactly once, in order).
func TestSubFileMillionLines(t *testing.T) {
	for _, tt := range []struct {
		scheme string
		addr   func(t *testing.T) string
		args   []string // sub's own
	}{
		{"kafka", func(t *testing.T) string {
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			return "kafka://" + strings.Join(c.ListenAddrs(), ",") + "/million"
		}, nil},
		{"amqp", func(t *testing.T) string {
			if why := testrabbit.Skip(); why != "" {
				t.Skip(why)
			}
			rabbit, err := testrabbit.Start()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(rabbit.Stop)
			return rabbit.URL("million")
		}, []string{"--max-pending", "16"}},
		{"nats", func(t *testing.T) string {
			return startStreamRelay(t, relay.Config{}).ClientURL() + "/million"
		}, nil},
	} {
		t.Run(tt.scheme, func(t *testing.T) {
			t.Parallel()
			addr := tt.addr(t)
			const n, kills = 1_000_000, 3
			in := make([]byte, 0, 12*n) // "p 0000123 x\n": 12 bytes a line
			for i := range n {
				in = fmt.Appendf(in, "p %07d x\n", i)
			}
			file := filepath.Join(t.TempDir(), "out")
			sub := append([]string{"sub", "--group", "g", "-o", file}, tt.args...)
			follow := append(append([]string{}, sub...), "--follow", addr)
			makeStream(t, addr)
			begin := time.Now()
			p := startStreamProc(t, command(t, follow...), nil)
			pub := startStreamProc(t, command(t, "pub", "--id", "p", addr), bytes.NewReader(in))
			var at []string
			cut := int64(0) // bytes the restarts cut from the file: written, not yet saved
			for k := 1; k <= kills; k++ {
				size := waitFileSize(t, file, int64(k*len(in)/(kills+1)), p)
				p.cmd.Process.Signal(syscall.SIGKILL)
				p.wait(t)
				if size >= int64(len(in)) {
					t.Fatalf("kill %d landed after the end: the file held %d bytes of %d", k, size, len(in))
				}
				cut += unsaved(t, file)
				at = append(at, fmt.Sprintf("%.0f%%", 100*float64(size)/float64(len(in))))
				p = startStreamProc(t, command(t, follow...), nil)
			}
			if code, _ := pub.wait(t); code != 0 {
				t.Fatalf("pub exited %d: %s", code, pub.stderr.String())
			}
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.wait(t)
			cut += unsaved(t, file)
			last := startStreamProc(t, command(t, append(sub, "-v", addr)...), nil)
			if code, _ := last.wait(t); code != 0 {
				t.Fatalf("the last sub exited %d: %s", code, last.stderr.String())
			}
			elapsed := time.Since(begin)
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			dups, missing := lineCounts(got, n)
			if sha256.Sum256(got) != sha256.Sum256(in) {
				t.Fatalf("the file (%d bytes) differs from the input (%d bytes): %d lines twice, %d missing", len(got), len(in), dups, missing)
			}
			t.Logf("%s: %d lines (%d bytes) in %.1f s, sub killed at %s of the input and once after pub: SHA-256 equal, %d duplicates, %d missing; restarts cut %d unsaved bytes; last sub: %s",
				tt.scheme, n, len(in), elapsed.Seconds(), strings.Join(at, ", "), dups, missing, cut, strings.TrimSpace(last.stderr.String()))
		})
	}
}

// waitFileSize waits until the file at path holds at least size bytes and
// returns its size.
func waitFileSize(t *testing.T, path string, size int64, p *streamProc) int64 {
	t.Helper()
	timeout := time.After(90 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() >= size {
			return fi.Size()
		}
		select {
		case <-tick.C:
		case <-p.done:
			t.Fatalf("%v exited before the file held %d bytes: %s", p.cmd.Args, size, p.stderr.String())
		case <-timeout:
			t.Fatalf("the file did not reach %d bytes in 90 s", size)
		}
	}
}

// unsaved is how many bytes the file holds after what its checkpoint
// recorded: what the next sub cuts.
func unsaved(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path + ".farpipe-sub")
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint's last line is "CRC JSON".
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	_, js, _ := bytes.Cut(lines[len(lines)-1], []byte(" "))
	var cp struct{ Length int64 }
	if err := json.Unmarshal(js, &cp); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size() - cp.Length
}

// lineCounts counts the lines "p SEQ x" (SEQ of 7 digits) of out that
// come more than once, and those of the n missing.
func lineCounts(out []byte, n int) (dups, missing int) {
	seen := make([]bool, n)
	for _, line := range bytes.Split(out, []byte("\n")) {
		seq, err := strconv.Atoi(string(bytes.TrimSuffix(bytes.TrimPrefix(line, []byte("p ")), []byte(" x"))))
		if err != nil || seq < 0 || seq >= n {
			continue
		}
		if seen[seq] {
			dups++
		}
		seen[seq] = true
	}
	for _, s := range seen {
		if !s {
			missing++
		}
	}
	return dups, missing
}
