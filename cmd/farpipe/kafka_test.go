package main

import (
	"crypto/sha256"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

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
