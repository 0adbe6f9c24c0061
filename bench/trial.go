//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// trial moves size bytes from the producer through p to the harness,
// which counts them: producer | p's send → TCP → p's recv | count.
// The clock runs from starting the producer and the sender until the
// last byte is read (the receiver is already listening).
func (h *harness) trial(ctx context.Context, p *peer, producer []string, size int64) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.timeout)
	defer cancel()
	var procs []*child
	defer func() {
		cancel() // kills whatever still runs
		for _, c := range procs {
			<-c.done
		}
	}()
	h.trials++
	start := func(role string, argv []string, stdin, stdout *os.File) (*child, error) {
		usageFile := ""
		if p.usage && role != "producer" && h.haveTime {
			usageFile = filepath.Join(h.tmp, fmt.Sprintf("usage-%d-%s", h.trials, role))
			argv = timed(usageFile, argv)
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), p.env...)
		if stdin != nil { // a nil *os.File would leave the descriptor closed, not /dev/null
			cmd.Stdin = stdin
		}
		if stdout != nil {
			cmd.Stdout = stdout
		}
		c, err := startChild(role, cmd)
		if err == nil {
			c.usageFile = usageFile
			procs = append(procs, c)
		}
		return c, err
	}

	port, err := freePort()
	if err != nil {
		return sample{}, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return sample{}, fmt.Errorf("farpipe bench: %v", err)
	}
	defer outR.Close()
	defer outW.Close()
	var recv *child
	if p.recv != nil {
		if recv, err = start("recv", p.recv(port), nil, outW); err != nil {
			return sample{}, err
		}
		// A receiver that dials out to a relay does not listen; its
		// sender waits for it.
		if !p.dialsOut {
			if err := waitListening(ctx, port, recv); err != nil {
				return sample{}, err
			}
		}
	}

	inR, inW, err := os.Pipe()
	if err != nil {
		return sample{}, fmt.Errorf("farpipe bench: %v", err)
	}
	defer inR.Close()
	defer inW.Close()
	sendOut := (*os.File)(nil)
	if p.recv == nil {
		sendOut = outW // the far end's byte count comes back this way
	}
	began := time.Now()
	if _, err := start("producer", producer, nil, inW); err != nil {
		return sample{}, err
	}
	send, err := start("send", p.send(port), inR, sendOut)
	if err != nil {
		return sample{}, err
	}
	// Only the children hold the pipes now, so EOF comes when they finish.
	inR.Close()
	inW.Close()
	outW.Close()

	got, cerr := consume(outR, p.recv == nil)
	elapsed := time.Since(began)
	var failures []string
	for _, c := range procs {
		if err := c.wait(); err != nil {
			failures = append(failures, err.Error())
		}
	}
	if len(failures) > 0 {
		msg := strings.Join(failures, "; ")
		if ctx.Err() != nil {
			msg = fmt.Sprintf("farpipe bench: no end after %s, killed: %s", h.cfg.timeout, msg)
		}
		return sample{}, errors.New(msg)
	}
	switch {
	case cerr != nil:
		return sample{}, cerr
	case got != size:
		return sample{}, fmt.Errorf("farpipe bench: %d bytes arrived, want %d", got, size)
	}

	s := sample{bytes: size, seconds: elapsed.Seconds()}
	if p.usage {
		sendCPU, sendRSS, err := send.usage()
		if err != nil {
			return sample{}, err
		}
		recvCPU, recvRSS, err := recv.usage()
		if err != nil {
			return sample{}, err
		}
		s.cpu, s.sendRSS, s.recvRSS = sendCPU+recvCPU, sendRSS, recvRSS
	}
	return s, nil
}

// consume reads r to the end and returns how many bytes arrived, or, when
// remoteCount is set, the decimal count that r carries.
func consume(r io.Reader, remoteCount bool) (int64, error) {
	if remoteCount {
		b, err := io.ReadAll(io.LimitReader(r, 64))
		if err != nil {
			return 0, fmt.Errorf("farpipe bench: reading the remote byte count: %v", err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("farpipe bench: the remote byte count %q: %v", b, err)
		}
		return n, nil
	}
	buf := make([]byte, 1<<20)
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
	}
}
