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
	f := endpointFlags{peerVerb: "recv", sessions: 1}
	var sf streamFlags
	cmd := &cobra.Command{
		Use:   "send [flags] ADDR",
		Short: "Send standard input to the farpipe at ADDR",
		Long: `Send standard input to the farpipe at ADDR, where "farpipe recv" runs.

send exits 0 only after the receiver has written every byte to its output.
With --listen, send waits at ADDR for the receiver to dial in.

` + addrHelp + "\n\n" + exitCodesHelp,
		Example: `  tar c dir | farpipe send 10.0.0.2:7000
  farpipe send --listen :7000 < backup.img
  farpipe send unix:///tmp/fp.sock < backup.img`,
		Args: exactlyOneAddr("farpipe send 10.0.0.2:7000"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := farpipe.CheckName(sf.name); err != nil {
				return usagef("--name %q: give at most %d bytes of printable text", sf.name, farpipe.MaxNameLen)
			}
			return runSend(cmd.Context(), &f, &sf, addrArg(args), os.Stdin)
		},
	}
	f.register(cmd)
	sf.register(cmd, "read")
	sf.rate.register(cmd)
	cmd.Flags().StringVar(&sf.name, "name", "", "the name the receiver gives this sender (merge --label; default: its address)")
	return cmd
}

const addrHelp = `Addresses:
  HOST:PORT, tcp://HOST:PORT   TCP; with --listen, :PORT listens on every interface
  [::1]:PORT                   an IPv6 address, in brackets
  fp://HOST:PORT/#TOKEN        TCP with the token after '#', as a listener prints it
  unix:///PATH                 a Unix socket on this host (three slashes)
  shm://NAME                   shared memory between processes on this host (Linux)
  nats://RELAY[:PORT]/NAME     through a relay (farpipe relay, or any NATS server):
                               both ends dial out; --listen waits at NAME
  ws://HOST[:PORT]/PATH        a WebSocket, e.g. behind a reverse proxy; wss:// with
                               TLS to the proxy (?ca=FILE; to listen, ?cert=F&key=F)
  CODE (7-apple-river)         a short code another farpipe printed (with --relay);
                               with --relay and no ADDR, print one for the other side
Any address with a scheme may end in #TOKEN (unix:///run/x.sock#TOKEN).
Without a token in the address, the token comes from --token-file or
$FARPIPE_TOKEN; a listener without any makes one up and prints the address
to give the peer.`

func runSend(ctx context.Context, f *endpointFlags, sf *streamFlags, addr string, in *os.File) error {
	oneThread(addr)
	c, done, err := sf.start(ctx, f, addr, "send", in)
	if err != nil {
		return err
	}
	defer done()
	if err := c.SendName(sf.name); err != nil {
		return err
	}
	start := time.Now()
	err = untilSignal(ctx, c, "the sender", func() error {
		in, finish, err := sf.local(c, in, "send")
		if err != nil {
			return err
		}
		defer finish()
		var src io.Reader = in
		if p := rawPipe(in, false); p != nil {
			defer p.Close()
			src = p
		}
		// -p counts what the receiver confirmed, not what was read.
		defer sf.track("send", sizeOf(in), func() uint64 { return c.Stats().Delivered })()
		return sendAll(ctx, c, sf.rate.reader(ctx, src))
	})
	if f.verbose {
		stats(c, "sent", c.Stats().Delivered, time.Since(start))
	}
	return err
}

// sendAll copies in to c, closes the writing direction and waits until the
// receiver has confirmed every byte.
func sendAll(ctx context.Context, c *farpipe.Conn, in io.Reader) error {
	// Standard input is read straight into the send buffer.
	if _, err := c.ReadFrom(input{in}); err != nil {
		var ie inputError
		if errors.As(err, &ie) {
			c.Abort("the sender could not read its input")
			return fmt.Errorf("farpipe: reading standard input: %v: the receiver was told the stream is incomplete", ie.err)
		}
		return sendErr(ctx, c, err)
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
	if errors.As(err, &bp) && bp.Reason != "" {
		// The reader closed with a reason: it failed (its output is full,
		// say) rather than stopped reading, an I/O failure (exit 1).
		return fmt.Errorf("farpipe: %s; %d bytes were delivered, the stream is incomplete", bp.Reason, bp.Delivered)
	}
	if errors.As(err, &bp) {
		return kindf(farpipe.ErrBrokenPipe, "farpipe: broken pipe: the receiver stopped reading after %d bytes were delivered", bp.Delivered)
	}
	return fmt.Errorf("%w; %d of %d bytes sent were confirmed delivered", err, st.Delivered, st.Written)
}

// input marks the errors of the reader it wraps, so that they can be told
// from the pipe's.
type input struct{ r io.Reader }

type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }

func (in input) Read(p []byte) (int, error) {
	n, err := in.r.Read(p)
	if err != nil && err != io.EOF {
		err = inputError{err}
	}
	return n, err
}
