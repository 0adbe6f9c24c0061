package main

import (
	"crypto/sha256"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMapViaQueueNetworkCut: the relay, map and two workers run on one
// host, a third worker on another. In the middle of a run of 3,000
// chunks, the other host loses its cable and one worker on the first host
// is killed with SIGKILL. Their chunks go to the last worker after the ack
// wait; the output is the input (cat, as the sequential run writes it),
// and map exits 0.
func TestMapViaQueueNetworkCut(t *testing.T) {
	t.Parallel()
	hostA, hostB, addrB, link := twoHosts(t)
	relayCmd := inNetns(t, hostB, "relay", "--listen", addrB+":4222", "--store", filepath.Join(t.TempDir(), "store"))
	ready := &readyWriter{ready: make(chan struct{})}
	relayCmd.Stderr = ready
	if err := relayCmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { // owned by the cleanup
		defer close(exited)
		relayCmd.Wait()
	}()
	t.Cleanup(func() {
		relayCmd.Process.Kill()
		<-exited
	})
	select {
	case <-ready.ready:
	case <-exited:
		t.Fatalf("the relay exited: %s", ready)
	case <-time.After(60 * time.Second):
		t.Fatalf("the relay was not ready within 60 s: %s", ready)
	}
	addr := "nats://" + addrB + ":4222/cut"
	worker := func(ns string) *workerProc {
		return startWorker(t, inNetns(t, ns, "worker", "-j", "2", "--ack-wait", "2s", addr, "--", "cat"))
	}
	cut := worker(hostA)
	b1, b2 := worker(hostB), worker(hostB)
	in := seqInput(30000) // 3,000 chunks of 10 lines
	code, stderr, sum, n := runMapCmdMidway(t, inNetns(t, hostB, "map", "--via", addr, "--records", "10", "-j", "32"), in, func() {
		link(false)
		b1.cmd.Process.Signal(syscall.SIGKILL)
	})
	if code != 0 || sum != sha256.Sum256(in) {
		t.Fatalf("exit %d, %d bytes of %d; stderr: %s\nworkers: %s | %s | %s", code, n, len(in), stderr, cut.stderr, b1.stderr, b2.stderr)
	}
	select {
	case <-b1.exited:
	default:
		t.Fatal("the killed worker still runs")
	}
	t.Logf("the cut worker said: %s", cut.stderr)
}
