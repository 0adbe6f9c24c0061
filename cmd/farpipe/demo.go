package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/farpipe/farpipe/secure"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

func newDemoCmd() *cobra.Command {
	var size string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a verified transfer between two farpipe processes on this machine",
		Long: `Start "farpipe recv --listen" and "farpipe send" on loopback, move random data
through them, compare the SHA-256 of what went in and what came out, and print
the throughput.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := humanize.ParseBytes(size)
			if err != nil {
				return usagef("--size %q: give a size such as 1GiB or 100MB", size)
			}
			return runDemo(cmd.Context(), n)
		},
	}
	cmd.Flags().StringVar(&size, "size", "1GiB", "how much data to move")
	return cmd
}

func runDemo(ctx context.Context, size uint64) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("farpipe: cannot find my own executable: %v", err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	var recvErr, sendErr bytes.Buffer
	recv := exec.CommandContext(ctx, self, "recv", "--listen", addr)
	send := exec.CommandContext(ctx, self, "send", "--wait", "10s", addr)
	recv.Stderr, send.Stderr = &recvErr, &sendErr
	// Both sides share a fresh token, as two hosts would through FARPIPE_TOKEN.
	env := append(os.Environ(), secure.EnvToken+"="+secure.NewToken())
	recv.Env, send.Env = env, env
	in, err := send.StdinPipe()
	if err != nil {
		return err
	}
	out, err := recv.StdoutPipe()
	if err != nil {
		return err
	}
	fmt.Printf("farpipe demo: %s of random data, encrypted: generator | farpipe send %s  ~>  farpipe recv --listen %s | sha256\n",
		humanize.IBytes(size), addr, addr)
	if err := recv.Start(); err != nil {
		return err
	}
	if err := send.Start(); err != nil {
		recv.Process.Kill()
		recv.Wait()
		return err
	}

	start := time.Now()
	sent, got := sha256.New(), sha256.New()
	var received int64
	var g errgroup.Group
	g.Go(func() error {
		defer in.Close()
		return generate(io.MultiWriter(in, sent), size)
	})
	g.Go(func() error {
		var err error
		received, err = io.CopyBuffer(got, out, make([]byte, copyBuf))
		return err
	})
	genErr := g.Wait()
	sendStatus, recvStatus := send.Wait(), recv.Wait()
	elapsed := time.Since(start)

	fmt.Printf("  sent      %d bytes  sha256 %s\n", size, hex.EncodeToString(sent.Sum(nil)))
	fmt.Printf("  received  %d bytes  sha256 %s\n", received, hex.EncodeToString(got.Sum(nil)))
	fmt.Printf("  send: %s   recv: %s\n", status(sendStatus, &sendErr), status(recvStatus, &recvErr))
	same := uint64(received) == size && bytes.Equal(sent.Sum(nil), got.Sum(nil))
	if genErr != nil || sendStatus != nil || recvStatus != nil || !same {
		return fmt.Errorf("farpipe: demo failed: the data did not arrive intact (see above)")
	}
	fmt.Printf("  identical: %s in %.2f s, %.0f MB/s end to end\n",
		humanize.IBytes(size), elapsed.Seconds(), float64(size)/elapsed.Seconds()/1e6)
	return nil
}

func status(err error, stderr *bytes.Buffer) string {
	s := "exit 0"
	if ee, ok := err.(*exec.ExitError); ok {
		s = fmt.Sprintf("exit %d", ee.ExitCode())
	} else if err != nil {
		s = err.Error()
	}
	if msg := bytes.TrimSpace(stderr.Bytes()); len(msg) > 0 {
		s += " (" + string(msg) + ")"
	}
	return s
}

// generate writes size bytes of non-repeating pseudo-random data to w.
func generate(w io.Writer, size uint64) error {
	rng := rand.NewChaCha8([32]byte{'f', 'a', 'r', 'p', 'i', 'p', 'e'})
	buf := make([]byte, copyBuf)
	for size > 0 {
		n := min(size, uint64(len(buf)))
		rng.Read(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}

// freeLoopbackAddr returns a loopback address with a port nobody uses now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("farpipe: cannot open a loopback port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
