//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// paceRate is the rate of the paced consumers of the load test, bytes/s.
const paceRate = 20e6

// relayRSSLimit is the most memory the relay may hold during the load test.
const relayRSSLimit = 128 << 20

// loadResult is the relay's memory while many pipes run through it.
type loadResult struct {
	why      string // why it was not measured; "" if it was
	pipes    int
	paced    int // of them, with a consumer paced at paceRate
	size     int64
	with     string // what the pipes were: farpipe, or the nats copier standing in
	relay    string // the relay's kind
	idle     int64  // the relay's VmHWM before the pipes start, bytes
	hwm      int64  // the relay's VmHWM at the end, bytes
	failures []string
	fast     []float64 // seconds of each unpaced pipe
	slow     []float64 // seconds of each paced pipe
	load     string    // load average at the end
}

// measureLoad runs the pipes of the load test through a fresh relay at
// once, half of them read at paceRate, and reads the relay's peak memory.
// Without transport/nats the pipes are nats copiers (farpipe's message
// size and window), which shows what the relay itself holds; the goal is
// about farpipe's pipes.
func (rb *relayBench) measureLoad(ctx context.Context) loadResult {
	h := rb.h
	lr := loadResult{pipes: h.cfg.relayPipes, paced: h.cfg.relayPipes / 2, size: h.cfg.relayLoadSize}
	if lr.pipes == 0 {
		lr.why = "skipped (--relay-pipes 0)"
		return lr
	}
	relay, err := rb.startRelay(ctx, "load")
	if err != nil {
		lr.why = "not available: " + err.Error()
		return lr
	}
	defer relay.proc.stop()
	lr.relay = relay.kind
	lr.idle = procHWM(relay.proc.cmd.Process.Pid)
	lr.with = "farpipe send | relay | farpipe recv (TLS)"
	if !rb.natsTransport {
		lr.with = fmt.Sprintf("nats copier %d KiB standing in for farpipe (%s)", farpipeNatsMsg>>10, rb.why)
	}
	logf("load: %d pipes of %d MiB through %s at once, %d read at %.0f MB/s", lr.pipes, lr.size>>20, relay.url, lr.paced, paceRate/1e6)
	// The paced pipes take size/paceRate; give them half as long again.
	timeout := max(h.cfg.timeout, time.Duration(float64(lr.size)/paceRate*1.5*float64(time.Second))+30*time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type outcome struct {
		paced   bool
		seconds float64
		err     error
	}
	results := make([]outcome, lr.pipes)
	var wg sync.WaitGroup
	for i := range lr.pipes {
		paced := i%2 == 1
		name := fmt.Sprintf("load%d", i)
		var send, recv []string
		env := []string{"FARPIPE_TOKEN=" + h.token}
		if rb.natsTransport {
			send = []string{h.farpipe, "send", "--wait", "30s", relay.url + "/" + name}
			recv = []string{h.farpipe, "recv", "--quiet", "--listen", relay.url + "/" + name}
		} else {
			args := func(verb string) []string {
				return []string{rb.natscopy, verb, "--server", relay.url, "--subject", name, "--msg", strconv.Itoa(farpipeNatsMsg), "--wait", "30s"}
			}
			send, recv = args("pub"), args("sub")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			err := runPipe(ctx, zeros(lr.size), send, recv, env, lr.size, paced)
			results[i] = outcome{paced: paced, seconds: time.Since(began).Seconds(), err: err}
		}()
	}
	wg.Wait()
	lr.hwm = procHWM(relay.proc.cmd.Process.Pid)
	lr.load = loadAverage()
	for i, o := range results {
		switch {
		case o.err != nil:
			lr.failures = append(lr.failures, fmt.Sprintf("pipe %d: %v", i, o.err))
		case o.paced:
			lr.slow = append(lr.slow, o.seconds)
		default:
			lr.fast = append(lr.fast, o.seconds)
		}
	}
	logf("load: relay peak RSS %s MiB, %d of %d pipes failed (load %s)", mib(lr.hwm), len(lr.failures), lr.pipes, lr.load)
	return lr
}

// runPipe runs producer | send, and recv into the harness, which reads
// it (at paceRate if paced) and checks that size bytes arrived and that
// every process exited 0.
func runPipe(ctx context.Context, producer, send, recv, env []string, size int64, paced bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var procs []*child
	defer func() {
		cancel()
		for _, c := range procs {
			<-c.done
		}
	}()
	start := func(role string, argv []string, stdin, stdout *os.File) error {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		if stdin != nil {
			cmd.Stdin = stdin
		}
		if stdout != nil {
			cmd.Stdout = stdout
		}
		c, err := startChild(role, cmd)
		if err == nil {
			procs = append(procs, c)
		}
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer outR.Close()
	defer outW.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer inR.Close()
	defer inW.Close()
	if err := start("recv", recv, nil, outW); err != nil {
		return err
	}
	if err := start("producer", producer, nil, inW); err != nil {
		return err
	}
	if err := start("send", send, inR, nil); err != nil {
		return err
	}
	inR.Close()
	inW.Close()
	outW.Close()
	got, rerr := consumePaced(outR, paced)
	var failures []string
	for _, c := range procs {
		if err := c.wait(); err != nil {
			failures = append(failures, err.Error())
		}
	}
	switch {
	case len(failures) > 0:
		return errors.New(strings.Join(failures, "; "))
	case rerr != nil:
		return rerr
	case got != size:
		return fmt.Errorf("%d bytes arrived, want %d", got, size)
	}
	return nil
}

// consumePaced reads r to the end, no faster than paceRate if paced, and
// returns how many bytes arrived.
func consumePaced(r io.Reader, paced bool) (int64, error) {
	if !paced {
		return consume(r, false)
	}
	buf := make([]byte, 64<<10)
	began := time.Now()
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("farpipe bench: reading the receiver's output: %v", err)
		}
		due := began.Add(time.Duration(float64(n) / paceRate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
	}
}

// codeResult is the latency of the short codes.
type codeResult struct {
	why       string    // why it was not measured; "" if it was
	toCode    []float64 // seconds from starting send --relay to the printed code
	toByte    []float64 // seconds from starting recv CODE to its first byte out
	failures  []string
	line      string // one printed line, for the report
	loadAfter string
}

// codeRuns is how often the short codes are timed.
const codeRuns = 5

// measureCodes times `farpipe send --relay` until it prints its code and
// `farpipe recv CODE` until its first byte, through a fresh relay, if
// this farpipe has short codes.
func (rb *relayBench) measureCodes(ctx context.Context) codeResult {
	h := rb.h
	help, _ := exec.CommandContext(ctx, h.farpipe, "send", "--help").CombinedOutput()
	if !strings.Contains(string(help), "--relay") {
		return codeResult{why: "not available: farpipe send has no --relay flag in this build (short codes not merged yet)"}
	}
	if !rb.natsTransport {
		return codeResult{why: "not available: " + rb.why}
	}
	relay, err := rb.startRelay(ctx, "short-code")
	if err != nil {
		return codeResult{why: "not available: " + err.Error()}
	}
	defer relay.proc.stop()
	var cr codeResult
	for i := range codeRuns {
		toCode, toByte, line, err := timeCode(ctx, h.farpipe, relay.url, h.cfg.timeout)
		if err != nil {
			cr.failures = append(cr.failures, fmt.Sprintf("run %d: %v", i+1, err))
			logf("short code run %d FAILED: %v", i+1, err)
			continue
		}
		cr.toCode, cr.toByte, cr.line = append(cr.toCode, toCode), append(cr.toByte, toByte), line
		logf("short code run %d: code after %.0f ms, first byte %.0f ms after recv started (load %s)", i+1, toCode*1000, toByte*1000, loadAverage())
	}
	cr.loadAfter = loadAverage()
	return cr
}

// codeBytes is what each short-code run sends.
const codeBytes = 1 << 20

// timeCode runs `farpipe send --relay URL` on codeBytes of zeros, waits
// for the line `farpipe recv ...` on its standard error, runs that
// command with this farpipe and reads its output.
func timeCode(ctx context.Context, farpipe, relayURL string, timeout time.Duration) (toCode, toByte float64, line string, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "FARPIPE_TOKEN=") && !strings.HasPrefix(e, "FARPIPE_RELAY=") {
			env = append(env, e)
		}
	}
	send := exec.CommandContext(ctx, farpipe, "send", "--relay", relayURL)
	send.Env = env
	send.Stdin = strings.NewReader(strings.Repeat("\x00", codeBytes))
	errR, errW, err := os.Pipe()
	if err != nil {
		return 0, 0, "", err
	}
	defer errR.Close()
	send.Stderr = errW
	began := time.Now()
	err = send.Start()
	errW.Close()
	if err != nil {
		return 0, 0, "", err
	}
	sendErr := make(chan error, 1)
	go func() { sendErr <- send.Wait() }()
	codeLine := make(chan string, 1) // the `farpipe recv` line, once
	var sendTail tailBuffer
	readerDone := make(chan struct{})
	go func() { // ends when send's standard error closes, at its exit
		defer close(readerDone)
		defer close(codeLine)
		buf := make([]byte, 4096)
		var acc string
		found := false
		for {
			n, rerr := errR.Read(buf)
			sendTail.Write(buf[:n])
			acc += string(buf[:n])
			for !found {
				l, rest, ok := strings.Cut(acc, "\n")
				if !ok {
					break
				}
				acc = rest
				if strings.Contains(l, "farpipe recv") {
					found = true
					codeLine <- l
				}
			}
			if rerr != nil {
				return
			}
		}
	}()
	sendWaited, sendResult := false, error(nil)
	waitSend := func() error {
		if !sendWaited {
			sendResult, sendWaited = <-sendErr, true
		}
		return sendResult
	}
	defer func() {
		cancel()
		waitSend()
		<-readerDone
	}()
	var recvArgs []string
	select {
	case l, ok := <-codeLine:
		if !ok {
			return 0, 0, "", fmt.Errorf("farpipe send --relay printed no `farpipe recv` line: %v%s", waitSend(), sendTail.suffix())
		}
		toCode = time.Since(began).Seconds()
		line = strings.TrimSpace(l)
		_, after, _ := strings.Cut(l, "farpipe recv")
		recvArgs = append([]string{"recv"}, strings.Fields(after)...)
	case <-ctx.Done():
		return 0, 0, "", fmt.Errorf("no code printed within %s%s", timeout, sendTail.suffix())
	}
	recv := exec.CommandContext(ctx, farpipe, recvArgs...)
	recv.Env = env
	out, err := recv.StdoutPipe()
	if err != nil {
		return 0, 0, "", err
	}
	var recvErr tailBuffer
	recv.Stderr = &recvErr
	recvBegan := time.Now()
	if err := recv.Start(); err != nil {
		return 0, 0, "", err
	}
	first := make([]byte, 1)
	if _, err := io.ReadFull(out, first); err != nil {
		recv.Wait()
		return 0, 0, line, fmt.Errorf("farpipe %s: no first byte: %v%s", strings.Join(recvArgs, " "), err, recvErr.suffix())
	}
	toByte = time.Since(recvBegan).Seconds()
	rest, _ := consume(out, false)
	if err := recv.Wait(); err != nil {
		return 0, 0, line, fmt.Errorf("farpipe %s: %v%s", strings.Join(recvArgs, " "), err, recvErr.suffix())
	}
	if err := waitSend(); err != nil {
		return 0, 0, line, fmt.Errorf("farpipe send --relay: %v%s", err, sendTail.suffix())
	}
	if rest+1 != codeBytes {
		return 0, 0, line, fmt.Errorf("%d bytes arrived, want %d", rest+1, codeBytes)
	}
	return toCode, toByte, line, nil
}

// spreadMS formats the median and range of xs in milliseconds.
func spreadMS(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("median %.0f ms (%.0f–%.0f ms, %d runs)", median(xs)*1000, slices.Min(xs)*1000, slices.Max(xs)*1000, len(xs))
}
