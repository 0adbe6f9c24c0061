package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/broker"
	_ "github.com/farpipe/farpipe/broker/amqp"  // amqp:// streams: RabbitMQ stream queues
	_ "github.com/farpipe/farpipe/broker/kafka" // kafka:// streams
	_ "github.com/farpipe/farpipe/broker/nats"  // nats:// streams
	"github.com/farpipe/farpipe/flow"
)

const streamAddrHelp = `Addresses:
  nats://RELAY[:PORT]/STREAM     a JetStream stream on a relay (farpipe relay) or any
                                 NATS server or cluster with JetStream; the port
                                 defaults to 4222; several servers: nats://H1,H2,H3/STREAM
  nats://USER:PASS@RELAY/STREAM, nats://TOKEN@RELAY/STREAM   with a login
  nats+tls://, nats+ws://, nats+wss://                       TLS, WebSocket
  amqp[s]://[USER:PASS@]HOST[:PORT][/VHOST]/QUEUE   a RabbitMQ stream queue (3.9 or later)
  kafka://BROKER[:PORT][,BROKER...]/TOPIC   a Kafka topic of one partition (port 9092);
                                 kafka+tls:// for TLS, kafka://USER:PASS@... for SASL PLAIN
STREAM is letters, digits, '-' and '_'. See docs/streams.md.`

const streamExitHelp = `Exit status:
  0  pub: every record was stored (confirmed by the stream's replicas);
     sub: every record up to the end was written out
  1  failure: the relay is unreachable, the stream is full (pub), a
     message is malformed (sub), or an I/O error; pub says from which
     record on its input is not sure to be stored
  2  usage error
  3  sub: its output was closed (broken pipe)
  128+N  interrupted by signal N (130 for SIGINT, 143 for SIGTERM): pub
     waited for nothing; sub acknowledged what it wrote`

type pubFlags struct {
	id, maxBytes, maxMsg string
	appendNew, verbose   bool
	replicas             int
	maxAge               time.Duration
	rec                  mergeRecords
	rate                 rateFlag
}

func newPubCmd() *cobra.Command {
	var f pubFlags
	cmd := &cobra.Command{
		Use:   "pub [flags] nats://RELAY[:PORT]/STREAM",
		Short: "Publish the records of standard input to a durable stream",
		Long: `Publish the records of standard input (lines by default, NUL-terminated
with -0, or ending with --recend STR) to a durable stream on a relay, where
any number of "farpipe sub" read them, each at its own pace.

Records travel whole: many publishers into one stream never interleave
within a record. A record larger than a message travels in pieces that sub
joins. pub exits 0 only when every record is stored (confirmed by the
stream's replicas). The stream is made on first use (file storage, no
message dropped to make room: a full stream refuses records and pub fails
saying so); --replicas, --max-bytes and --max-age apply only then.

A publisher is known by its --id (default: new on every run). Restarted
with the same --id and the same input (after a crash, or a kill), pub skips
the records the stream holds from it already and publishes the rest: no
record is stored twice. With --append the input is new records instead.

` + streamAddrHelp + "\n\n" + streamExitHelp,
		Example: `  tail -F /var/log/app.log | farpipe pub --id "$(hostname)" nats://relay:4222/logs
  farpipe pub --id import-1 --replicas 3 nats://n1,n2,n3/orders < orders.jsonl
  find . -print0 | farpipe pub -0 nats://relay/files`,
		Args: exactlyOneStream("farpipe pub nats://relay:4222/logs"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPub(cmd.Context(), &f, args[0], cmd.Flags().Changed("id"))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.id, "id", "", "the publisher's name (sub --label shows it); a restart with the same id and input duplicates nothing")
	fl.BoolVar(&f.appendNew, "append", false, "with --id: the input is new records, after those the stream holds from this id (skip none)")
	fl.IntVar(&f.replicas, "replicas", 1, "a new stream: servers that keep each record (1 to 5; 3 for a cluster)")
	fl.StringVar(&f.maxBytes, "max-bytes", "0", "a new stream: its size limit (for example 10GiB; 0: the server's storage)")
	fl.DurationVar(&f.maxAge, "max-age", 0, "a new stream: how long records are kept (for example 168h; 0: until removed)")
	fl.StringVar(&f.maxMsg, "max-message", humanize.IBytes(broker.DefaultMaxMessage), "the largest message; longer records travel in pieces")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print what was published on stderr")
	f.rec.register(cmd)
	f.rate.register(cmd)
	return cmd
}

// exactlyOneStream is the argument rule of pub and sub.
func exactlyOneStream(example string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("%s takes exactly one stream address, got %d: for example %s", cmd.CommandPath(), len(args), example)
		}
		return nil
	}
}

func runPub(ctx context.Context, f *pubFlags, addr string, idGiven bool) error {
	if err := f.rec.check(); err != nil {
		return err
	}
	if _, err := f.rate.check(); err != nil {
		return err
	}
	maxBytes, err := humanize.ParseBytes(f.maxBytes)
	if err != nil || maxBytes > 1<<62 {
		return usagef("--max-bytes %q: give a size such as 10GiB, or 0", f.maxBytes)
	}
	maxMsg, err := humanize.ParseBytes(f.maxMsg)
	if err != nil || maxMsg < broker.MinMaxMessage || maxMsg > 64<<20 {
		return usagef("--max-message %q: give a size from %d bytes to 64MiB (below the server's max_payload, 1MiB by default)", f.maxMsg, broker.MinMaxMessage)
	}
	switch {
	case f.replicas < 1 || f.replicas > 5:
		return usagef("--replicas %d: give 1 to 5", f.replicas)
	case f.maxAge < 0:
		return usagef("--max-age %v: give a positive duration", f.maxAge)
	case f.appendNew && !idGiven:
		return usagef("--append goes with --id: without it every run is a new publisher")
	}
	if idGiven {
		if err := broker.CheckID("--id", f.id); err != nil {
			return usagef("%v", trimPrefix(err))
		}
	}
	s, err := openStream(ctx, addr, broker.StreamConfig{Replicas: f.replicas, MaxBytes: int64(maxBytes), MaxAge: f.maxAge})
	if err != nil {
		return err
	}
	defer s.Close()
	// A signal must interrupt a read of standard input that waits for a
	// producer (tail -F).
	in := newPollReader(os.Stdin)
	if d, ok := in.(interface{ SetReadDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { d.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	if c, ok := in.(io.Closer); ok && in != io.Reader(os.Stdin) {
		defer c.Close()
	}
	start := time.Now()
	st, err := broker.Pub(ctx, s, f.rate.reader(ctx, in), broker.PubConfig{
		ID: f.id, Append: f.appendNew, Split: flow.RecEnd(f.rec.end()), MaxMessage: int(maxMsg),
		Stored: obs.pubStored(),
	})
	if f.verbose {
		secs := time.Since(start).Seconds()
		logEvent(evEnd, fmt.Sprintf("pub: %s: stored %d records (%s) in %d messages in %.2f s; skipped %d already stored",
			st.ID, st.Records, humanize.IBytes(st.Bytes), st.Messages, secs, st.Skipped),
			"id", st.ID, "records", st.Records, "bytes", st.Bytes, "messages", st.Messages, "seconds", secs, "skipped", st.Skipped)
	}
	return streamError(ctx, err, pubStopped)
}

// What a signal leaves behind, in the messages of pub and sub.
const (
	pubStopped = "pub stopped without waiting for the stream to confirm what it sent (run it again with the same --id and input to publish the rest)"
	subStopped = "every record sub wrote out is acknowledged (a sub with the same --durable goes on after it)"
)

// openStream opens a stream, with usage errors for bad addresses.
func openStream(ctx context.Context, addr string, cfg broker.StreamConfig) (broker.Stream, error) {
	s, err := broker.Open(ctx, addr, cfg)
	if errors.Is(err, broker.ErrBadAddress) || errors.Is(err, broker.ErrUnknownScheme) {
		return nil, &usageError{oneLine(err)}
	}
	return s, streamError(ctx, err, "nothing was read or published yet")
}

// streamError gives the errors of pub and sub their exit status: a signal
// that stopped the work is the error, saying what it left behind (then).
func streamError(ctx context.Context, err error, then string) error {
	var se *signalError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se), errors.As(context.Cause(ctx), &se):
		return &signalError{sig: se.sig, then: then}
	case errors.Is(err, syscall.EPIPE):
		return kindf(farpipe.ErrBrokenPipe, "farpipe: the output was closed (broken pipe): %s", trimPrefix(err))
	}
	return err
}
