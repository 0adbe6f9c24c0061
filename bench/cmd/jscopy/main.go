// Command jscopy is the peer of the benchmark's streams part: the least a
// Go program must do to put standard input's lines into a NATS JetStream
// stream and to read them back to standard output, with the settings that
// farpipe pub and sub use.
//
//	jscopy pub --server nats://HOST:PORT --stream S < lines
//	jscopy sub --server nats://HOST:PORT --stream S > lines
//	jscopy rm --server nats://HOST:PORT --stream S
//
// pub creates the stream S (file storage, subjects S.*, one replica) and
// publishes standard input on S.p in messages of whole lines of at most
// broker.DefaultMaxMessage-broker.MaxHeader bytes, asynchronously with at
// most broker.DefaultMaxInFlight unconfirmed (farpipe pub's defaults); it
// exits 0 once JetStream confirmed every message. It sets no message id
// (farpipe pub does, for its deduplication).
//
// sub reads S from its first message to the last one it held when sub
// started, through a pull consumer with explicit acknowledgements and at
// most broker.DefaultMaxPending unacknowledged (farpipe sub's defaults),
// writes each message's data to standard output, flushes it, and only then
// acknowledges it, as farpipe sub does. rm deletes the stream.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/farpipe/farpipe/broker"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "farpipe bench: jscopy:", err)
		os.Exit(1)
	}
}

const usage = "usage: jscopy pub|sub|rm --server URL --stream S"

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("jscopy "+verb, flag.ContinueOnError)
	url := fs.String("server", "nats://127.0.0.1:4222", "the NATS server")
	stream := fs.String("stream", "jscopy", "the stream")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	nc, err := nats.Connect(*url)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	switch verb {
	case "pub":
		return pub(ctx, nc, *stream, os.Stdin)
	case "sub":
		return sub(ctx, nc, *stream, os.Stdout)
	case "rm":
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		return js.DeleteStream(ctx, *stream)
	}
	return errors.New(usage)
}

func pub(ctx context.Context, nc *nats.Conn, name string, in io.Reader) error {
	var failed atomic.Int64
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(broker.DefaultMaxInFlight),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
	if err != nil {
		return err
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".*"},
		Storage: jetstream.FileStorage}); err != nil {
		return err
	}
	const size = broker.DefaultMaxMessage - broker.MaxHeader
	r := bufio.NewReaderSize(in, 1<<20)
	var carry []byte // a line begun in the last message's buffer
	for {
		buf := make([]byte, size) // kept by the publisher until confirmed
		n := copy(buf, carry)
		k, err := io.ReadFull(r, buf[n:])
		n += k
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return err
		}
		end := err != nil
		cut := n
		if !end {
			for cut > 0 && buf[cut-1] != '\n' {
				cut--
			}
			if cut == 0 {
				return errors.New("a line longer than a message")
			}
		}
		carry = append(carry[:0], buf[cut:n]...)
		if cut > 0 {
			// Wait while broker.DefaultMaxInFlight are unconfirmed, as farpipe pub does.
			if _, err := js.PublishAsync(name+".p", buf[:cut], jetstream.WithStallWait(time.Minute)); err != nil {
				return err
			}
		}
		if end {
			break
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d messages were not stored", n)
	}
	return nil
}

func sub(ctx context.Context, nc *nats.Conn, name string, out io.Writer) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		return err
	}
	last := s.CachedInfo().State.LastSeq
	if last == 0 {
		return nil
	}
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy,
		MaxAckPending: broker.DefaultMaxPending, InactiveThreshold: 30 * time.Second})
	if err != nil {
		return err
	}
	it, err := c.Messages(jetstream.PullMaxMessages(broker.DefaultMaxPending))
	if err != nil {
		return err
	}
	defer it.Stop()
	w := bufio.NewWriterSize(out, 64<<10)
	for {
		m, err := it.Next()
		if err != nil {
			return err
		}
		w.Write(m.Data())
		if err := w.Flush(); err != nil {
			return err
		}
		m.Ack()
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		if meta.Sequence.Stream >= last {
			return nc.Flush()
		}
	}
}
