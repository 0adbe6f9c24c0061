package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/farpipe/farpipe/broker"
)

type subFlags struct {
	from, durable, maxRecord     string
	group                        string // --group: the Kafka spelling of --durable
	output                       string // -o FILE
	follow, label, verbose, sync bool
	maxPending                   int
}

func newSubCmd() *cobra.Command {
	var f subFlags
	cmd := &cobra.Command{
		Use:   "sub [flags] nats://RELAY[:PORT]/STREAM",
		Short: "Write the records of a durable stream to standard output",
		Long: `Write the records of a durable stream (see "farpipe pub") to standard
output, each whole, up to the stream's end when sub started, or with
--follow waiting for new ones until interrupted.

With --durable NAME (or --group NAME: the consumer group on Kafka) the
broker keeps the subscriber's place: sub acknowledges
a message only after writing its records out, so a sub started again with
the same NAME (after an interruption, a crash, a lost relay) goes on right
after the last record it wrote. One sub at a time per NAME. --from
applies when NAME is new.

On standard output one window stays: a sub killed with SIGKILL between
writing a message and its acknowledgement writes that message's records
again. -o FILE (with --durable) closes it: sub appends the records to
FILE and, before each acknowledgement, saves FILE's length and the
messages written in FILE.farpipe-sub; started again, it cuts FILE back to
that length and skips what was written, so that FILE holds every record
exactly once across SIGKILL. --sync also syncs FILE and the checkpoint to
storage before each acknowledgement, for a crash of the machine (slower).

The stream must exist: pub makes it (with its settings).

A slow sub never loses a record: the stream keeps them, and the relay
sends sub at most --max-pending unacknowledged messages (bounded memory).

--from start|new|SEQ|TIME: the first record of the stream (default), the
first one published after sub starts, the message at stream position SEQ,
or the first one stored at TIME (2026-01-02T15:04:05Z) or that long ago (90m).

` + streamAddrHelp + "\n\n" + streamExitHelp,
		Example: `  farpipe sub --follow --label nats://relay:4222/logs > all.log
  farpipe sub --durable archiver nats://relay/logs | gzip >> archive.gz
  farpipe sub --from 1h nats://relay/logs | grep ERROR
  farpipe sub --follow --group archiver kafka://k1:9092,k2:9092/logs > logs.txt
  farpipe sub --follow --durable archiver -o logs.txt amqp://rabbit/logs`,
		Args: exactlyOneStream("farpipe sub nats://relay:4222/logs"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSub(cmd.Context(), &f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.from, "from", "start", "where a new subscriber starts: start, new, a stream position, a time or an age (90m)")
	fl.StringVar(&f.durable, "durable", "", "keep this subscriber's place in the stream under NAME, to resume after a stop")
	fl.StringVar(&f.group, "group", "", "the same as --durable (the consumer group NAME on Kafka)")
	fl.BoolVarP(&f.follow, "follow", "f", false, "keep waiting for new records (until interrupted)")
	fl.BoolVar(&f.label, "label", false, "start each record with its publisher's name (pub --id) and a tab")
	fl.IntVar(&f.maxPending, "max-pending", broker.DefaultMaxPending, "messages the relay may send before sub acknowledges them")
	fl.StringVar(&f.maxRecord, "max-record", humanize.IBytes(broker.DefaultMaxRecord), "the largest record sub joins from pieces")
	fl.StringVarP(&f.output, "output", "o", "", "append the records to FILE, exactly once across restarts and SIGKILL (needs --durable; checkpoint in FILE.farpipe-sub)")
	fl.BoolVar(&f.sync, "sync", false, "with -o: sync FILE and its checkpoint to storage before each acknowledgement (survives a crash of the machine)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print what was written on stderr")
	return cmd
}

// parseFrom parses --from.
func parseFrom(s string, now time.Time) (broker.SubConfig, error) {
	switch s {
	case "start", "":
		return broker.SubConfig{From: broker.FromStart}, nil
	case "new":
		return broker.SubConfig{From: broker.FromNew}, nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil && n > 0 {
		return broker.SubConfig{From: broker.FromSeq, Seq: n}, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d >= 0 {
		return broker.SubConfig{From: broker.FromTime, Time: now.Add(-d)}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return broker.SubConfig{From: broker.FromTime, Time: t}, nil
	}
	return broker.SubConfig{}, usagef("--from %q: give start, new, a stream position (1, 2, ...), a time (2026-01-02T15:04:05Z) or an age (90m)", s)
}

func runSub(ctx context.Context, f *subFlags, addr string) error {
	softMemoryLimit(streamMemoryLimit)
	sc, err := parseFrom(f.from, time.Now())
	if err != nil {
		return err
	}
	maxRecord, err := humanize.ParseBytes(f.maxRecord)
	if err != nil || maxRecord == 0 || maxRecord > 1<<40 {
		return usagef("--max-record %q: give a size such as 64MiB", f.maxRecord)
	}
	if f.maxPending < 1 || f.maxPending > 1<<20 {
		return usagef("--max-pending %d: give 1 to %d", f.maxPending, 1<<20)
	}
	if f.group != "" && f.durable != "" && f.group != f.durable {
		return usagef("--group %q and --durable %q name two places: give one", f.group, f.durable)
	}
	if f.group != "" {
		f.durable = f.group
	}
	if f.durable != "" {
		if err := broker.CheckID("--durable", f.durable); err != nil {
			return usagef("%v", trimPrefix(err))
		}
	}
	if f.output != "" && f.durable == "" {
		return usagef("-o %s needs --durable NAME (or --group NAME): the broker must keep sub's place for a restart to go on where the file ends", f.output)
	}
	if f.sync && f.output == "" {
		return usagef("--sync syncs the file of -o FILE: give -o FILE")
	}
	sc.Durable, sc.Follow, sc.MaxPending = f.durable, f.follow, f.maxPending
	s, err := openStream(ctx, addr, broker.StreamConfig{Existing: true})
	if err != nil {
		return err
	}
	defer s.Close()
	o := broker.SubOptions{SubConfig: sc, Label: f.label, MaxRecord: int(maxRecord), Progress: obs.subProgress()}
	var out io.Writer = os.Stdout
	if f.output != "" {
		sf, err := broker.OpenSubFile(f.output, broker.SubFileConfig{Stream: addr, Durable: f.durable, Sync: f.sync})
		if err != nil {
			return err
		}
		defer sf.Close()
		out, o.Checkpoint = sf, sf
	}
	start := time.Now()
	st, err := broker.Sub(ctx, s, out, o)
	if f.verbose {
		secs := time.Since(start).Seconds()
		logEvent(evEnd, fmt.Sprintf("sub: wrote %d records (%s) of %d messages in %.2f s; %d delivered again and not written twice",
			st.Records, humanize.IBytes(st.Bytes), st.Messages, secs, st.Again),
			"records", st.Records, "bytes", st.Bytes, "messages", st.Messages, "seconds", secs, "redelivered", st.Again)
	}
	return streamError(ctx, err, subStopped)
}
