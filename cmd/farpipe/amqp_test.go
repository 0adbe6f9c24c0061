package main

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"

	"github.com/farpipe/farpipe/broker/brokertest"
	"github.com/farpipe/farpipe/internal/testrabbit"
)

// TestStreamsAMQPKilledConsumer: 1,000,000 lines through a RabbitMQ stream
// with farpipe pub, a durable sub killed with SIGKILL mid-stream and
// started again: every line arrives, once, in order (the restarted sub
// may write again only what the killed one wrote and had not yet recorded
// as written; the test reports how many).
func TestStreamsAMQPKilledConsumer(t *testing.T) {
	if why := testrabbit.Skip(); why != "" {
		t.Skip(why)
	}
	t.Parallel()
	rabbit, err := testrabbit.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rabbit.Stop)
	addr := rabbit.URL("lines")
	const n = 1000000
	makeStream(t, addr)
	durable := startStreamProc(t, command(t, "sub", "--follow", "--label", "--durable", "d1", "--max-pending", "16", addr), nil)
	pub := startStreamProc(t, command(t, "pub", "--id", "p", addr), bytes.NewReader(brokertest.Lines("p", n, 20)))
	durable.waitLines(t, n/2)
	durable.cmd.Process.Signal(syscall.SIGKILL)
	_, first := durable.wait(t)
	if code, _ := pub.wait(t); code != 0 {
		t.Fatalf("pub exited %d: %s", code, pub.stderr.String())
	}
	again := startStreamProc(t, command(t, "sub", "--label", "--durable", "d1", addr), nil)
	code, second := again.wait(t)
	if code != 0 {
		t.Fatalf("the restarted sub exited %d: %s", code, again.stderr.String())
	}
	first = wholeLines(first)
	joined, repeats, fault := joinAfter(first, second)
	if fault != "" {
		t.Fatal(fault)
	}
	t.Logf("the durable subscriber killed after %d lines wrote %d again when restarted", bytes.Count(first, []byte("\n")), repeats)
	if fault := brokertest.CheckLabeled(joined, []string{"p"}, n); fault != "" {
		t.Fatal(fault)
	}
}

// joinAfter joins the labeled outputs ("ID\tID SEQ ...") of one
// publisher's records by a subscriber killed mid-stream and by its restart,
// which may begin again before where the first stopped (by at most 64
// messages' worth), with the same records. It returns the joined output,
// how many records came again, or a description of the fault.
func joinAfter(first, second []byte) ([]byte, int, string) {
	seq := func(line []byte) int {
		_, rec, _ := bytes.Cut(line, []byte("\t"))
		var id string
		n := -1
		fmt.Sscanf(string(rec), "%s %d", &id, &n)
		return n
	}
	next := 0
	if i := bytes.LastIndexByte(first[:max(len(first)-1, 0)], '\n'); len(first) > 0 {
		next = seq(first[i+1:]) + 1
	}
	out := append([]byte(nil), first...)
	again := 0
	for _, line := range bytes.SplitAfter(second, []byte("\n")) {
		if s := seq(line); s >= 0 && s < next {
			if next-s > 64*(64<<10)/20 {
				return nil, 0, fmt.Sprintf("after the restart, record %d came again, %d before where the first run stopped", s, next-s)
			}
			again++
			continue
		}
		out = append(out, line...)
	}
	return out, again, ""
}
