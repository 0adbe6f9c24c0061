package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/spf13/cobra"
)

func newSendCmd() *cobra.Command {
	f := endpointFlags{peerVerb: "recv"}
	cmd := &cobra.Command{
		Use:   "send [flags] ADDR",
		Short: "Send standard input to the farpipe at ADDR",
		Long: `Send standard input to the farpipe at ADDR ("host:port" or "tcp://host:port").

send exits 0 only after the receiver has written every byte to its output.
With --listen, send waits at ADDR for the receiver to dial in.

` + exitCodesHelp,
		Example: `  tar c dir | farpipe send 10.0.0.2:7000
  farpipe send --listen :7000 < backup.img`,
		Args: exactlyOneAddr("farpipe send 10.0.0.2:7000"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSend(cmd.Context(), &f, args[0], os.Stdin)
		},
	}
	f.register(cmd)
	return cmd
}

func runSend(ctx context.Context, f *endpointFlags, addr string, in *os.File) error {
	if _, err := f.options(); err != nil {
		return err
	}
	c, done, err := f.connect(ctx, addr)
	if err != nil {
		return err
	}
	defer done()
	growPipe(in)

	start := time.Now()
	err = untilSignal(ctx, c, "the sender", func() error { return sendAll(ctx, c, in) })
	if f.verbose {
		st := c.Stats()
		stats(c, "sent", st.Delivered, time.Since(start))
	}
	return err
}

// sendAll copies in to c, closes the writing direction and waits until the
// receiver has confirmed every byte.
func sendAll(ctx context.Context, c *farpipe.Conn, in io.Reader) error {
	buf := make([]byte, copyBuf)
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := c.Write(buf[:n]); err != nil {
				return sendErr(ctx, c, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			c.Abort("the sender could not read its input")
			return fmt.Errorf("farpipe: reading standard input: %v: the receiver was told the stream is incomplete", rerr)
		}
	}
	if err := c.CloseWrite(); err != nil {
		return sendErr(ctx, c, err)
	}
	if err := c.Drain(ctx); err != nil {
		return sendErr(ctx, c, err)
	}
	return nil
}

// sendErr explains a failed transfer, with how much was delivered.
func sendErr(ctx context.Context, c *farpipe.Conn, err error) error {
	if ctx.Err() != nil {
		return interrupted(ctx, err)
	}
	st := c.Stats()
	var bp *farpipe.BrokenPipeError
	if errors.As(err, &bp) {
		return kindf(farpipe.ErrBrokenPipe, "farpipe: broken pipe: the receiver stopped reading after %d bytes were delivered", bp.Delivered)
	}
	return fmt.Errorf("%w; %d of %d bytes sent were confirmed delivered", err, st.Delivered, st.Written)
}
