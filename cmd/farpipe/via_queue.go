package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/flow"
)

// queueWindow is map --via QUEUE's default --jobs: the chunks out on the
// queue at once. Memory is about three times that many blocks.
const queueWindow = 8

const viaQueueHelp = `With --via QUEUE, a work queue nats://RELAY[:PORT]/QUEUE (a relay, or any
NATS server with JetStream), kafka://BROKER[,BROKER]/TOPIC or
amqp://[USER:PASS@]HOST[:PORT][/VHOST]/QUEUE (RabbitMQ), each chunk goes on
the queue, where "farpipe worker" processes on any number of hosts take
them, run their own command and send the outputs back (give no CMD). --jobs
(default 8) chunks are out on the queue at once. A chunk whose worker dies
goes to another worker; a chunk that ran twice is written once. A chunk is at
most one message of the broker (1 MiB by default on a relay): --block is cut
to fit, and a chunk of longer records fails.

`

// queueMap runs the chunks of map --via on a work queue.
type queueMap struct {
	sub       broker.Submission
	max       int // the largest chunk, in bytes
	retries   int
	keepGoing bool
	line      func(string)
	bufs      sync.Pool // *[]byte of max bytes: chunks read from a file
}

// queueFailure is a command that failed on a worker.
type queueFailure struct {
	worker   string
	status   broker.WorkStatus
	attempts int
	first    []byte
}

func (e *queueFailure) Error() string {
	msg := fmt.Sprintf("on worker %s, %s", e.worker, e.status.Note)
	if e.status.Note == "" {
		msg = fmt.Sprintf("on worker %s, the command exited with status %d", e.worker, e.status.Code)
	}
	if e.attempts > 1 {
		msg += fmt.Sprintf(" (%d attempts)", e.attempts)
	}
	return msg + fmt.Sprintf("; first record %q", e.first)
}

func runMapQueue(ctx context.Context, f *mapFlags, addr string, replicas int, jobsSet bool) error {
	cfg, mc, err := f.config()
	if err != nil {
		return err
	}
	if replicas < 1 || replicas > 5 {
		return usagef("map: --replicas must be from 1 to 5")
	}
	softMemoryLimit(streamMemoryLimit)
	q, err := broker.OpenQueue(ctx, addr, broker.QueueOptions{Replicas: replicas})
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			return cerr
		}
		return fmt.Errorf("farpipe: map --via: %s", trimPrefix(err))
	}
	defer q.Close()
	maxItem := q.MaxItem()
	if cfg.Block > maxItem {
		if f.block != "" {
			return usagef("map: --block %s is more than a message of the relay can carry (%d bytes): give a smaller one", f.block, maxItem)
		}
		cfg.Block = maxItem
	}
	cfg.MaxChunk = maxItem
	src, done, err := mapSource(ctx, os.Stdin, cfg, false, 0)
	if err != nil {
		return err
	}
	defer done()
	sub, err := q.Submit(ctx)
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			return cerr
		}
		return fmt.Errorf("farpipe: map --via: %s", trimPrefix(err))
	}
	defer sub.Close()
	growPipe(os.Stdout)
	r := newMapRunner("", nil, 0, false)
	m := &queueMap{sub: sub, max: maxItem, retries: f.retries, keepGoing: f.keepGoing, line: r.line}
	m.bufs.New = func() any {
		b := make([]byte, maxItem+bytes.MinRead) // ReadFrom wants MinRead free to read
		return &b
	}
	mc.Jobs = queueWindow
	if jobsSet {
		mc.Jobs = f.jobs
	}
	mc.Hold = true // a failed chunk can run again
	// An output as large as its chunk is held whole; a larger one waits
	// for its turn, reading its parts from the relay as it goes.
	mc.OutputBuffer = cfg.Block + 64<<10
	mc.Window = max(mc.Jobs/4, 1)
	err = flow.Map(ctx, src, os.Stdout, mc, obs.job(m.job))
	if errors.Is(err, flow.ErrChunkTooBig) {
		return fmt.Errorf("farpipe: map --via: a chunk would be bigger than a message of the relay (%d bytes): give fewer --records, or raise the relay's --max-payload", maxItem)
	}
	return mapResult(err)
}

// job puts the chunk on the queue and writes its result; again when the
// command failed and --retries allows.
func (m *queueMap) job(ctx context.Context, c *flow.Chunk, out *flow.Output) error {
	if n := len(c.Header) + int(c.Size); n > m.max {
		return fmt.Errorf("farpipe: map: chunk %d with its header is %d bytes, more than a message of the relay (%d): use a smaller --block or header", c.Seq, n, m.max)
	}
	data := c.Data // without a copy when it can
	if data == nil || len(c.Header) > 0 {
		// Read straight into a buffer of the pool: no growing, no
		// clearing of a new megabyte for every chunk.
		bp := m.bufs.Get().(*[]byte)
		defer m.bufs.Put(bp)
		b := bytes.NewBuffer((*bp)[:0])
		if _, err := c.WriteTo(b); err != nil {
			return fmt.Errorf("farpipe: map: reading chunk %d: %w", c.Seq, err)
		}
		data = b.Bytes()
	}
	meta := map[string]string{"Chunk": strconv.FormatInt(c.Seq, 10), "Offset": strconv.FormatInt(c.Offset, 10)}
	for attempt := 1; ; attempt++ {
		id := strconv.FormatInt(c.Seq, 10) + "." + strconv.Itoa(attempt)
		if err := m.sub.Put(ctx, broker.WorkItem{ID: id, Meta: meta, Data: data}); err != nil {
			return err
		}
		res, err := m.sub.Result(ctx, id)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, res.Output)
		res.Output.Close()
		switch {
		case err != nil:
			return err
		case res.Status.Code == 0:
			return nil
		case attempt <= m.retries && out.Discard():
			obs.chunkRetried()
			continue
		}
		fail := &queueFailure{worker: res.Worker, status: res.Status, attempts: attempt, first: c.FirstRecord(80)}
		if m.keepGoing {
			logChunk(m.line, evChunkFailed, c, fmt.Sprintf("map: chunk %d (%s) failed: %v", c.Seq, byteRange(c.Offset, c.Size), fail), fail)
		}
		return fail
	}
}
