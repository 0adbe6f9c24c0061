package main

import (
	"crypto/sha256"
	"strings"
	"syscall"
	"testing"

	"github.com/farpipe/farpipe/internal/testrabbit"
)

// TestMapViaAMQP: map --via amqp:// with farpipe workers on a RabbitMQ
// work queue (rabbitmq-server on loopback). Two workers of two slots serve
// 1,000 chunks and one is killed -9 in the middle: its chunks go to the
// other (its connection closed), and the output is the input. A command
// that fails on one chunk stops map with exit 9 after --retries.
func TestMapViaAMQP(t *testing.T) {
	if why := testrabbit.Skip(); why != "" {
		t.Skip(why)
	}
	t.Parallel()
	rabbit, err := testrabbit.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rabbit.Stop)
	t.Run("killed", func(t *testing.T) {
		addr := rabbit.URL("jobs")
		var workers []*workerProc
		for range 2 {
			workers = append(workers, startWorker(t, command(t, "worker", "-j", "2", addr, "--", "cat")))
		}
		in := seqInput(10000) // 1,000 chunks of 10 lines
		code, stderr, sum, n := runMapQueueCmd(t, in, func() {
			workers[0].cmd.Process.Signal(syscall.SIGKILL)
		}, "--via", addr, "--records", "10", "-j", "32")
		if code != 0 || sum != sha256.Sum256(in) {
			t.Fatalf("exit %d, %d bytes of %d, same: %v; stderr: %s\nworker: %s", code, n, len(in), sum == sha256.Sum256(in), stderr, workers[1].stderr)
		}
	})
	t.Run("retries", func(t *testing.T) {
		addr := rabbit.URL("fail")
		for range 2 {
			startWorker(t, command(t, "worker", "-j", "2", addr, "--", "sh", "-c",
				`awk '$0 == "500" { bad = 1 } { print } END { if (bad) { print "bad record" > "/dev/stderr"; exit 3 } }'`))
		}
		code, stderr, _, _ := runMapQueueCmd(t, seqInput(2000), nil, "--via", addr, "--records", "10", "--retries", "2")
		if code != 9 {
			t.Fatalf("exit %d, want 9; stderr: %s", code, stderr)
		}
		for _, w := range []string{"chunk 49", "(3 attempts)", "status 3", "bad record"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr lacks %q: %s", w, stderr)
			}
		}
	})
}

// BenchmarkViaAMQP compares map --via amqp:// with two local cat workers
// (one slot each) to local map -j 2 -- cat on 100 MB of lines from a pipe;
// it reports both rates and their ratio.
func BenchmarkViaAMQP(b *testing.B) {
	rabbit, err := testrabbit.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer rabbit.Stop()
	addr := rabbit.URL("bench")
	benchVia(b, addr, 100e6)
}
