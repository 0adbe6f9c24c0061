package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/spf13/cobra"
)

func newRecvCmd() *cobra.Command {
	f := endpointFlags{peerVerb: "send"}
	cmd := &cobra.Command{
		Use:   "recv [flags] ADDR",
		Short: "Receive from the farpipe at ADDR and write to standard output",
		Long: `Receive from the farpipe at ADDR ("host:port" or "tcp://host:port") and write
the bytes to standard output.

recv exits 0 only after the whole stream arrived and its checksum matched. If
its output is closed (a consumer such as "head" exits), recv tells the sender
to stop and exits 3.

` + exitCodesHelp,
		Example: `  farpipe recv --listen :7000 | tar x
  farpipe recv 10.0.0.1:7000 > backup.img`,
		Args: exactlyOneAddr("farpipe recv --listen :7000"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRecv(cmd.Context(), &f, args[0], os.Stdout)
		},
	}
	f.register(cmd)
	return cmd
}

func runRecv(ctx context.Context, f *endpointFlags, addr string, out *os.File) error {
	if _, err := f.options(); err != nil {
		return err
	}
	c, done, err := f.connect(ctx, addr)
	if err != nil {
		return err
	}
	defer done()
	growPipe(out)

	start := time.Now()
	var n atomic.Uint64
	err = untilSignal(ctx, c, "the receiver", func() error { return recvAll(c, out, &n) })
	if f.verbose {
		stats(c, "received", n.Load(), time.Since(start))
	}
	return err
}

// recvAll copies c to out until a verified EOF.
// It counts the bytes written in total.
func recvAll(c *farpipe.Conn, out io.Writer, total *atomic.Uint64) error {
	buf := make([]byte, copyBuf)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				c.CloseRead()
				return kindf(farpipe.ErrBrokenPipe, "farpipe: broken pipe: standard output was closed after %d bytes (%v); told the sender to stop", total.Load(), werr)
			}
			total.Add(uint64(n))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return recvErr(err, total.Load())
		}
	}
}

func recvErr(err error, total uint64) error {
	var ae *farpipe.AbortError
	switch {
	case errors.As(err, &ae):
		return fmt.Errorf("%w; %d bytes were received before, the stream is incomplete", err, total)
	case errors.Is(err, farpipe.ErrChecksum):
		return kindf(farpipe.ErrChecksum, "farpipe: the stream's checksum does not match after %d bytes: the data was corrupted on the way", total)
	}
	return fmt.Errorf("%w; %d bytes were received, the stream is incomplete", err, total)
}
