package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestKafkaMillionLines: 1,000,000 lines through kafka:// (an in-process
// Kafka cluster, kfake, on loopback), with the consumer group's subscriber
// killed with SIGKILL mid-stream and started again: joined, its two
// outputs hold every line once, in order (the restart may write again
// the lines of the one message it had written and not yet committed,
// which the join drops and counts), and the same bytes as the input.
func TestKafkaMillionLines(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := "kafka://" + strings.Join(c.ListenAddrs(), ",") + "/million"
	const n = 1_000_000
	in := make([]byte, 0, 12*n) // "p 0000123 x\n": 12 bytes a line
	for i := range n {
		in = append(in, "p "...)
		in = append(in, fmt.Sprintf("%07d", i)...)
		in = append(in, " x\n"...)
	}
	makeStream(t, addr)
	begin := time.Now()
	sub := startStreamProc(t, command(t, "sub", "--follow", "--label", "--group", "g", addr), nil)
	pub := startStreamProc(t, command(t, "pub", "--id", "p", addr), bytes.NewReader(in))
	sub.waitLines(t, n/2)
	sub.cmd.Process.Signal(syscall.SIGKILL)
	_, first := sub.wait(t)
	if code, _ := pub.wait(t); code != 0 {
		t.Fatalf("pub exited %d: %s", code, pub.stderr.String())
	}
	pubTime := time.Since(begin)
	again := startStreamProc(t, command(t, "sub", "--label", "--group", "g", addr), nil)
	code, second := again.wait(t)
	readTime := time.Since(begin)
	if code != 0 {
		t.Fatalf("the restarted sub exited %d: %s", code, again.stderr.String())
	}
	// Labeled, the input is "p\tp SEQ xx\n"...: the first output must be
	// a prefix of it, the second a suffix, overlapping by whole lines (the
	// message written again), at most one message.
	labeled := append([]byte("p\t"), bytes.ReplaceAll(in, []byte("\np "), []byte("\np\tp "))...)
	first = wholeLines(first)
	overlap := len(first) + len(second) - len(labeled)
	switch {
	case !bytes.HasPrefix(labeled, first):
		t.Fatalf("the killed sub's %d bytes are not the start of the input", len(first))
	case !bytes.HasSuffix(labeled, second):
		t.Fatalf("the restarted sub's %d bytes are not the rest of the input", len(second))
	case overlap < 0:
		t.Fatalf("%d bytes of the input are missing between the killed sub's output and the restarted one's", -overlap)
	case bytes.Count(second[:overlap], []byte("\n")) > (64<<10)/13 || len(second) > 0 && overlap > 0 && labeled[len(labeled)-len(second)-1] != '\n':
		// A message of 64 KiB holds at most 65536/13 lines (a length byte each).
		t.Fatalf("the restarted sub wrote %d bytes again, more than a message, or not whole lines", overlap)
	}
	joined := append(first, second[overlap:]...)
	if got, want := sha256.Sum256(joined), sha256.Sum256(labeled); got != want {
		t.Fatalf("the joined output (%d bytes) differs from the input (%d bytes)", len(joined), len(labeled))
	}
	repeats := bytes.Count(second[:overlap], []byte("\n"))
	t.Logf("%d lines (%d bytes): pub done after %.2f s, all read after %.2f s (checked after %.2f s); the sub killed after %d lines wrote %d again when restarted",
		n, len(in), pubTime.Seconds(), readTime.Seconds(), time.Since(begin).Seconds(), bytes.Count(first, []byte("\n")), repeats)
}

// TestMapViaKafkaWorkerKilled: two workers of two slots serve 1,000 chunks
// on a kafka:// queue (kfake); one is killed -9 in the middle: its chunks
// go to the other (its connection closed), and the output is the input.
func TestMapViaKafkaWorkerKilled(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := "kafka://" + strings.Join(c.ListenAddrs(), ",") + "/jobs"
	var workers []*workerProc
	for range 2 {
		workers = append(workers, startWorker(t, command(t, "worker", "-j", "2", addr, "--", "cat")))
	}
	in := seqInput(10000) // 1,000 chunks of 10 lines
	begin := time.Now()
	code, stderr, sum, n := runMapQueueCmd(t, in, func() {
		workers[0].cmd.Process.Signal(syscall.SIGKILL)
	}, "--via", addr, "--records", "10", "-j", "32")
	if code != 0 || sum != sha256.Sum256(in) {
		t.Fatalf("exit %d, %d bytes of %d, same: %v; stderr: %s\nworker: %s", code, n, len(in), sum == sha256.Sum256(in), stderr, workers[1].stderr)
	}
	t.Logf("1,000 chunks through kafka:// with a worker killed: %.2f s", time.Since(begin).Seconds())
}
