package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/spf13/cobra"
)

func newRecvCmd() *cobra.Command {
	f := endpointFlags{peerVerb: "send", sessions: 1}
	var sf streamFlags
	cmd := &cobra.Command{
		Use:   "recv [flags] ADDR",
		Short: "Receive from the farpipe at ADDR and write to standard output",
		Long: `Receive from the farpipe at ADDR, where "farpipe send" runs, and write the
bytes to standard output.

recv exits 0 only after the whole stream arrived and its checksum matched. If
its output is closed (a consumer such as "head" exits), recv tells the sender
to stop and exits 3.

` + addrHelp + "\n\n" + exitCodesHelp,
		Example: `  farpipe recv --listen :7000 | tar x
  farpipe recv 10.0.0.1:7000 > backup.img
  farpipe recv --listen shm://backup > backup.img`,
		Args: exactlyOneAddr("farpipe recv --listen :7000"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRecv(cmd.Context(), &f, &sf, addrArg(args), os.Stdout)
		},
	}
	f.register(cmd)
	sf.register(cmd, "write")
	return cmd
}

func runRecv(ctx context.Context, f *endpointFlags, sf *streamFlags, addr string, out *os.File) error {
	oneThread(addr)
	c, done, err := sf.start(ctx, f, addr, "recv", out)
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	err = untilSignal(ctx, c, "the receiver", func() error {
		out, finish, err := sf.local(c, out, "recv")
		if err != nil {
			return err
		}
		defer finish()
		var dst io.Writer = out
		if p := rawPipe(out, true); p != nil {
			defer p.Close() // before out: the consumer's EOF waits for both
			dst = p
		}
		w := &writeCounter{w: dst}
		defer sf.track("recv", -1, w.n.Load)()
		return recvAll(c, w)
	})
	if f.verbose {
		stats(c, "received", c.Stats().Read, time.Since(start))
	}
	if err == nil {
		out.Close() // the consumer sees EOF now, not once the sender has confirmed
		awaitSender(ctx, c)
	}
	return err
}

// awaitSender waits, after the whole stream arrived, until the session has
// ended: the sender exits 0 only once it has the acknowledgement of the
// stream's end, and if the connection fails just after that was sent, the
// sender must be able to resume (so this side and its listener must still
// be there) to get it again. The session bounds the wait: the peer's
// confirmation, or --resume-timeout after a failure.
func awaitSender(ctx context.Context, c *farpipe.Conn) {
	c.Close()
	select {
	case <-c.Done():
	case <-ctx.Done():
	}
}

// recvAll copies c to out, straight from the receive buffer, until a
// verified EOF.
func recvAll(c *farpipe.Conn, out io.Writer) error {
	n, err := c.WriteTo(output{out})
	var oe outputError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &oe) && errors.Is(oe.err, syscall.EPIPE):
		// The consumer went away: tell the sender, which learns exactly how
		// many bytes were written to it.
		c.CloseRead()
		return kindf(farpipe.ErrBrokenPipe, "farpipe: broken pipe: standard output was closed after %d bytes (%v); told the sender to stop", n, oe.err)
	case errors.As(err, &oe):
		// The output failed (a full disk, an I/O error): an I/O failure,
		// and the sender is told why.
		reason := "the receiver could not write its output: " + errText(oe.err)
		c.CloseReadWithError(errors.New(reason))
		return fmt.Errorf("farpipe: writing the output: %s after %d bytes; the sender was told the stream is incomplete", errText(oe.err), n)
	}
	return recvErr(err, uint64(n))
}

// errText is the cause of a file error without the operation and the path,
// such as "no space left on device".
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// output marks the errors of the writer it wraps.
type output struct{ w io.Writer }

type outputError struct{ err error }

func (e outputError) Error() string { return e.err.Error() }

func (o output) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil {
		err = outputError{err}
	}
	return n, err
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
