package main

import (
	"bytes"
	"context"
	"encoding/binary"
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
through them, compare every byte that came out with what went in, and print
the pipe's throughput; making and comparing the data is timed apart.`,
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
	fmt.Printf("farpipe demo: %s of random data, encrypted: generator | farpipe send %s  ~>  farpipe recv --listen %s | compare\n",
		humanize.IBytes(size), addr, addr)
	if err := recv.Start(); err != nil {
		return err
	}
	if err := send.Start(); err != nil {
		recv.Process.Kill()
		recv.Wait()
		return err
	}

	// The data is a random block, stamped with its offset at every
	// kibibyte so that no two kibibytes are alike; it is written and
	// compared as it arrives at memory speed, so the time measured is the
	// pipe's own. The time spent comparing is reported apart.
	src := newPattern()
	start := time.Now()
	var (
		received   int64
		firstDiff  = int64(-1)
		verifyTime time.Duration
		first      time.Time // when the first byte came out
		g          errgroup.Group
	)
	g.Go(func() error {
		defer in.Close()
		return src.writeTo(in, size)
	})
	g.Go(func() error {
		buf := make([]byte, copyBuf)
		want := make([]byte, copyBuf)
		for {
			n, err := out.Read(buf)
			if n > 0 {
				t := time.Now()
				if received == 0 {
					first = t
				}
				src.fill(want[:n], uint64(received))
				if firstDiff < 0 && !bytes.Equal(buf[:n], want[:n]) {
					firstDiff = received
				}
				verifyTime += time.Since(t)
				received += int64(n)
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	genErr := g.Wait()
	last := time.Now()
	sendStatus, recvStatus := send.Wait(), recv.Wait()
	total := time.Since(start)
	elapsed := last.Sub(first)

	fmt.Printf("  sent      %d bytes\n", size)
	fmt.Printf("  received  %d bytes\n", received)
	fmt.Printf("  send: %s   recv: %s\n", status(sendStatus, &sendErr), status(recvStatus, &recvErr))
	same := uint64(received) == size && firstDiff < 0
	if genErr != nil || sendStatus != nil || recvStatus != nil || !same {
		if firstDiff >= 0 {
			fmt.Printf("  the bytes differ from byte %d on\n", firstDiff)
		}
		return fmt.Errorf("farpipe: demo failed: the data did not arrive intact (see above)")
	}
	fmt.Printf("  transfer: %s in %.2f s from the first byte to the last, %.0f MB/s through the pipe (%.2f s with starting both processes and the handshake)\n",
		humanize.IBytes(size), elapsed.Seconds(), float64(size)/elapsed.Seconds()/1e6, total.Seconds())
	fmt.Printf("  verified: identical, every byte compared with what was sent (%.2f s of comparing, not counted above)\n",
		verifyTime.Seconds())
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

// pattern is the demo's data: a random block repeated, with the offset
// of every kibibyte written into its first 8 bytes, so that no two
// kibibytes of the stream are alike and a byte lost, repeated or moved
// shows. Making and checking it costs about a memory copy.
type pattern struct{ block []byte }

const patternBlock = 1 << 20 // a multiple of copyBuf's divisors and of 1 KiB

func newPattern() *pattern {
	p := &pattern{block: make([]byte, patternBlock)}
	rand.NewChaCha8([32]byte{'f', 'a', 'r', 'p', 'i', 'p', 'e'}).Read(p.block)
	return p
}

// fill writes the bytes of the stream from offset off into b.
func (p *pattern) fill(b []byte, off uint64) {
	for len(b) > 0 {
		i := off % patternBlock
		n := copy(b, p.block[i:])
		// Stamp the kibibytes that start in this piece.
		for k := (off + 1023) &^ 1023; k < off+uint64(n); k += 1024 {
			var stamp [8]byte
			binary.BigEndian.PutUint64(stamp[:], k)
			copy(b[k-off:n], stamp[:])
		}
		b, off = b[n:], off+uint64(n)
	}
}

// writeTo writes the first size bytes of the stream to w.
func (p *pattern) writeTo(w io.Writer, size uint64) error {
	buf := make([]byte, copyBuf)
	for off := uint64(0); off < size; {
		n := min(size-off, uint64(len(buf)))
		p.fill(buf[:n], off)
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		off += n
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
