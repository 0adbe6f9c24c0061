package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// senderRecords makes n records "sender seq padding<end>", a few of them
// longer than merge's read buffer.
func senderRecords(sender, n int, end string) []byte {
	rng := rand.New(rand.NewPCG(uint64(sender), 9))
	var b bytes.Buffer
	for seq := range n {
		pad := rng.IntN(200)
		if seq%500 == 7 {
			pad = 300 << 10
		}
		fmt.Fprintf(&b, "s%d %d %s%s", sender, seq, strings.Repeat("x", pad), end)
	}
	return b.Bytes()
}

// checkMerged checks that out holds, for each sender, its records whole,
// in order, each exactly once (per-sender sequence numbers) and that they
// concatenate to what it sent (checksums). labels[i] is the label sender i's
// records must carry, "" for none. It returns how many records of each
// sender it found, and whether they are all it sent.
func checkMerged(t *testing.T, out []byte, end string, labels []string, sent [][]byte) (count []int, whole []bool) {
	t.Helper()
	got := make([][]byte, len(sent))
	count, whole = make([]int, len(sent)), make([]bool, len(sent))
	recs := strings.Split(string(out), end)
	if recs[len(recs)-1] != "" {
		t.Errorf("the output does not end with a whole record: ...%q", tail([]byte(recs[len(recs)-1])))
	}
	for _, rec := range recs[:len(recs)-1] {
		label, body, _ := strings.Cut(rec, "\t")
		if labels[0] == "" {
			label, body = "", rec
		}
		var s, seq int
		if _, err := fmt.Sscanf(body, "s%d %d", &s, &seq); err != nil || s < 0 || s >= len(sent) {
			t.Fatalf("malformed record %q", tail([]byte(rec)))
		}
		if seq != count[s] || label != labels[s] {
			t.Fatalf("record %d of sender %d labelled %q: want record %d labelled %q", seq, s, label, count[s], labels[s])
		}
		count[s]++
		got[s] = append(append(got[s], body...), end...)
	}
	for s := range sent {
		if !bytes.HasPrefix(sent[s], got[s]) {
			t.Errorf("sender %d: the %d bytes merged differ from those it sent", s, len(got[s]))
		}
		whole[s] = sha256.Sum256(got[s]) == sha256.Sum256(sent[s])
	}
	return count, whole
}

// TestMergeThreeSenders: the records of three senders each arrive exactly
// once, whole and in each sender's order, for every kind of record end,
// with --label (a --name, or the sender's address).
func TestMergeThreeSenders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		flags []string
		end   string
		label bool
	}{
		{"lines, labelled", []string{"--label"}, "\n", true},
		{"NUL", []string{"-0"}, "\x00", false},
		{"recend", []string{"--recend", "<END>"}, "<END>", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const senders, n = 3, 3000
			addr := freeAddr(t)
			merge := start(t, command(t, append([]string{"merge", "--listen", addr, "--from", "3"}, tt.flags...)...), nil)
			sent := make([][]byte, senders)
			labels := make([]string, senders)
			var waits []func() result
			for s := range senders {
				sent[s] = senderRecords(s, n, tt.end)
				args := []string{"send", "--wait", "10s", "-v"}
				if s > 0 { // sender 0 goes by its address
					args = append(args, "--name", "s"+strconv.Itoa(s))
					labels[s] = "s" + strconv.Itoa(s)
				}
				waits = append(waits, start(t, command(t, append(args, addr)...), bytes.NewReader(sent[s])))
			}
			for s, wait := range waits {
				if r := wait(); r.code != 0 {
					t.Errorf("sender %d: exit %d: %s", s, r.code, r.stderr)
				}
			}
			m := merge()
			if m.code != 0 {
				t.Fatalf("merge exit %d: %s", m.code, m.stderr)
			}
			if tt.label {
				labels[0] = addressLabel(t, m.stdout, "s0 0 ")
			} else {
				labels = make([]string, senders)
			}
			count, whole := checkMerged(t, m.stdout, tt.end, labels, sent)
			for s := range senders {
				if count[s] != n || !whole[s] {
					t.Errorf("sender %d: %d records merged, want all %d with the same checksum", s, count[s], n)
				}
			}
		})
	}
}

// addressLabel returns the label of the record that starts with first,
// which must be a loopback address.
func addressLabel(t *testing.T, out []byte, first string) string {
	t.Helper()
	i := bytes.Index(out, []byte("\t"+first))
	if i < 0 {
		t.Fatalf("no record %q", first)
	}
	start := bytes.LastIndexByte(out[:i], '\n') + 1
	label := string(out[start:i])
	if !strings.HasPrefix(label, "127.0.0.1:") {
		t.Errorf("sender without --name labelled %q, want its address", label)
	}
	return label
}

// TestMergeSenderKilled: a sender killed mid-stream fails for good once
// its resume timeout has passed; the other two's records are all written,
// every record in the output is whole, and merge exits 1 naming the killed
// sender.
func TestMergeSenderKilled(t *testing.T) {
	t.Parallel()
	const n = 2000
	addr := freeAddr(t)
	mergeCmd := command(t, "merge", "--listen", addr, "--from", "3", "--label", "--resume-timeout", "1s")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	mergeCmd.Stdout = pw
	var mergeErr bytes.Buffer
	mergeCmd.Stderr = &mergeErr
	if err := mergeCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mergeCmd.Process.Kill() }) // if the test fails early
	pw.Close()
	// The test reads merge's output, and tells when the victim's first
	// record has come out.
	var out bytes.Buffer
	victimSeen := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		br := bufio.NewReader(pr)
		seen := false
		for {
			line, err := br.ReadBytes('\n')
			out.Write(line)
			if !seen && bytes.HasPrefix(line, []byte("victim\t")) {
				seen = true
				close(victimSeen)
			}
			if err != nil {
				return
			}
		}
	}()

	sent := [][]byte{senderRecords(0, n, "\n"), senderRecords(1, n, "\n"), senderRecords(2, n, "\n")}
	victim := command(t, "send", "--wait", "10s", "--name", "victim", addr)
	victimIn, err := victim.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill() })
	victimIn.Write(sent[2][:len(sent[2])/3])
	// A watchdog: if nothing comes, merge is killed and the test fails
	// instead of hanging.
	watchdog := time.AfterFunc(time.Minute, func() { mergeCmd.Process.Kill() })
	defer watchdog.Stop()
	select {
	case <-victimSeen:
	case <-copied:
		t.Fatalf("merge ended before any of the victim's records came out: %s", mergeErr.String())
	}
	victim.Process.Signal(syscall.SIGKILL)
	victim.Wait()
	for s := range 2 {
		r := start(t, command(t, "send", "--wait", "10s", "--name", "s"+strconv.Itoa(s), addr), bytes.NewReader(sent[s]))()
		if r.code != 0 {
			t.Errorf("sender %d: exit %d: %s", s, r.code, r.stderr)
		}
	}
	mergeCmd.Wait()
	<-copied
	if code := mergeCmd.ProcessState.ExitCode(); code != exitFailure || !strings.Contains(mergeErr.String(), "sender victim failed") {
		t.Errorf("merge exit %d, stderr %q; want %d naming the victim", code, mergeErr.String(), exitFailure)
	}
	count, whole := checkMerged(t, out.Bytes(), "\n", []string{"s0", "s1", "victim"}, sent)
	if !whole[0] || !whole[1] || count[2] == 0 || count[2] == n {
		t.Errorf("records merged per sender: %v; want %d, %d and some of the victim's", count, n, n)
	}
}

func TestMergeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"merge", "--listen", "127.0.0.1:1"},
		{"merge", "--from", "2", "127.0.0.1:1"},
		{"merge", "--listen", "127.0.0.1:1", "--from", "2", "-0", "--recend", "x"},
	} {
		r := start(t, command(t, args...), nil)()
		if r.code != exitUsage || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d", args, r.code, r.stderr, exitUsage)
		}
	}
}

// TestMergeInterrupted: SIGINT to merge tells the senders (exit 4, with
// the reason) and merge exits 130.
func TestMergeInterrupted(t *testing.T) {
	addr := freeAddr(t)
	mergeCmd := command(t, "merge", "--listen", addr, "--from", "2")
	out, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	mergeCmd.Stdout = pw
	var mergeErr bytes.Buffer
	mergeCmd.Stderr = &mergeErr
	if err := mergeCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mergeCmd.Process.Kill() }) // if the test fails early
	pw.Close()
	sendCmd := command(t, "send", "--wait", "10s", addr)
	in, err := sendCmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	send := start(t, sendCmd, nil)
	in.Write([]byte("first\n"))
	watchdog := time.AfterFunc(time.Minute, func() { mergeCmd.Process.Kill() }) // the read below fails instead of hanging
	defer watchdog.Stop()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "first\n" {
		t.Fatalf("merge wrote %q: %s", line, mergeErr.String())
	}
	mergeCmd.Process.Signal(syscall.SIGINT)
	mergeCmd.Wait()
	// Like a writer to a pipe, the sender learns of the end at its next
	// read of its input.
	in.Close()
	s := send()
	if code := mergeCmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("merge exit %d (%s), want 130", code, mergeErr.String())
	}
	if s.code != exitPeerAborted || !strings.Contains(s.stderr, "merge was interrupted by SIGINT") {
		t.Errorf("send exit %d (%s), want %d and the reason", s.code, s.stderr, exitPeerAborted)
	}
}
