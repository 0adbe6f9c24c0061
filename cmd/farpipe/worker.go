package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/farpipe/farpipe/broker"
	_ "github.com/farpipe/farpipe/broker/amqp"  // the amqp:// work queues
	_ "github.com/farpipe/farpipe/broker/kafka" // the kafka:// work queues
	_ "github.com/farpipe/farpipe/broker/nats"  // the nats:// work queues
	"github.com/farpipe/farpipe/flow"
	"github.com/farpipe/farpipe/internal/metrics"
	"github.com/spf13/cobra"
)

// workerFlags are the flags of farpipe worker.
type workerFlags struct {
	jobs     int
	ackWait  time.Duration
	replicas int
}

func newWorkerCmd() *cobra.Command {
	var f workerFlags
	cmd := &cobra.Command{
		Use:   "worker [flags] nats://RELAY[:PORT]/QUEUE -- CMD [ARGS...]",
		Short: "Serve a work queue: run CMD on the chunks that map --via puts there",
		Long: `Take chunks from the work queue QUEUE on a relay (or any NATS server with
JetStream), one per free slot (--jobs), run CMD on each with the chunk on its
standard input, and store CMD's output and exit status as the chunk's result
for "farpipe map --via nats://RELAY/QUEUE", which writes the outputs in order.
Run it on as many hosts as you like; only CMD ever runs here, whatever map
asks. CMD gets FARPIPE_CHUNK and FARPIPE_OFFSET as under local map; its
standard error goes to the worker's, line by line, and its last lines go
back to map with a failure.

While CMD runs, the worker tells the queue every --ack-wait/5 that the chunk
is in progress, so a live worker never loses a long chunk. A worker that
dies (kill -9, host down, network cut) stops doing so, and its chunks go to
other workers after --ack-wait; a chunk that runs twice has its output
written once. A worker keeps trying while the relay is away.

A queue may also be kafka://BROKER[:PORT][,BROKER...]/QUEUE: Kafka 4.2 or later,
with share groups, or amqp[s]://[USER:PASS@]HOST[:PORT][/VHOST]/QUEUE: a RabbitMQ
quorum queue, where a dead worker's chunks go back when its connection
closes and --ack-wait does nothing (see docs/workers.md).

SIGINT and SIGTERM stop taking chunks: running commands get the signal, their
chunks go back on the queue for other workers, and the worker exits 130/143.

` + exitCodesHelp,
		Example: `  farpipe worker -j 4 nats://relay.example:4222/logs -- grep -F ERROR     (on each host)
  farpipe map --via nats://relay.example:4222/logs < big.log > errors.log`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
				return usagef("give the queue, then the command after --, for example: farpipe worker nats://relay:4222/jobs -- grep ERROR")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWorker(cmd.Context(), &f, args[0], args[1:])
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.jobs, "jobs", "j", 1, "chunks run at once on this host")
	fl.IntVar(&f.replicas, "replicas", 1, "copies of the queue's streams in a NATS cluster, when this worker creates them")
	fl.DurationVar(&f.ackWait, "ack-wait", 30*time.Second, "a chunk whose worker shows no progress for this long goes to another worker (set on the queue by the workers)")
	return cmd
}

// worker runs the command of farpipe worker on the chunks of a queue.
type worker struct {
	q      broker.Queue
	runner *mapRunner
	every  time.Duration // between progress reports

	mu     sync.Mutex
	broken bool // the last take failed: say so once, and when it works again
}

func runWorker(ctx context.Context, f *workerFlags, addr string, argv []string) error {
	if f.jobs < 1 || f.ackWait < 100*time.Millisecond || f.replicas < 1 || f.replicas > 5 {
		return usagef("worker: --jobs must be at least 1, --ack-wait at least 100ms and --replicas from 1 to 5")
	}
	if !broker.QueueScheme(addr) {
		return usagef("worker: %q is not a work queue: write nats://RELAY[:PORT]/QUEUE, kafka://BROKER/TOPIC or amqp://HOST/QUEUE", displayAddr(addr))
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return usagef("worker: cannot run %s: %v", argv[0], err)
	}
	q, err := broker.OpenQueue(ctx, addr, broker.QueueOptions{AckWait: f.ackWait, Replicas: f.replicas, Slots: f.jobs})
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			return cerr
		}
		return fmt.Errorf("farpipe: worker: %s", trimPrefix(err))
	}
	defer q.Close()
	w := &worker{q: q, runner: newMapRunner(path, argv, 0, false), every: f.ackWait / 5}
	obs.queueDepth(q)
	var wg sync.WaitGroup
	for range f.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.slot(ctx)
		}()
	}
	wg.Wait()
	var se *signalError
	if err := context.Cause(ctx); errors.As(err, &se) && se.then == "" {
		return &signalError{sig: se.sig, then: "the worker stopped; chunks it had not finished go back to the queue for another worker"}
	}
	return context.Cause(ctx)
}

// slot takes chunks one at a time and runs them, until ctx ends.
//
// A chunk's result is stored in the background while the slot takes the
// next chunk (the command has ended: the slot is free); the slot waits for
// it before it stores the next one, so that at most two chunks, and one
// result being stored, are a slot's at a time.
func (w *worker) slot(ctx context.Context) {
	var storing sync.WaitGroup // the last chunk's result
	defer storing.Wait()
	for {
		work, err := w.q.Take(ctx)
		if ctx.Err() != nil {
			if work != nil {
				work.GiveBack()
			}
			return
		}
		if err != nil {
			w.takeFailed(err)
			t := time.NewTimer(time.Second)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		w.takeWorked()
		w.serve(ctx, work, &storing)
	}
}

func (w *worker) takeFailed(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.broken {
		w.broken = true
		logLine(w.runner.line, evMessage, fmt.Sprintf("worker: %s; trying again every second", trimPrefix(err)), "error", trimPrefix(err))
	}
}

func (w *worker) takeWorked() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken {
		w.broken = false
		logLine(w.runner.line, evMessage, "worker: taking chunks again")
	}
}

// serve runs the command on one chunk, then stores its result in the
// background (storing), or gives the chunk back.
func (w *worker) serve(ctx context.Context, work broker.Work, storing *sync.WaitGroup) {
	item := work.Item()
	c := &flow.Chunk{Data: item.Data, Size: int64(len(item.Data))}
	c.Seq, _ = strconv.ParseInt(item.Meta["Chunk"], 10, 64)
	c.Offset, _ = strconv.ParseInt(item.Meta["Offset"], 10, 64)

	hbCtx, stopHB := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Add(1)
	go func() { // progress reports while the chunk is ours
		defer hb.Done()
		every := w.every
		if a, ok := w.q.(interface{ AckWait() time.Duration }); ok && a.AckWait()/5 < every {
			every = a.AckWait() / 5 // another worker set a shorter one
		}
		work.Progress() // the time it took to get here counts
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				work.Progress()
			case <-hbCtx.Done():
				return
			}
		}
	}()
	stop := func() {
		stopHB()
		hb.Wait()
	}

	end := obs.chunkStart()
	state, tail, err := w.runner.runOnce(ctx, c, work)
	var st broker.WorkStatus
	switch {
	case ctx.Err() != nil:
		end(metrics.Abandoned)
		stop()
		work.GiveBack()
		return
	case err != nil && state != nil: // its output could not be stored
		end(metrics.Abandoned)
		stop()
		obs.chunkRetried()
		logChunk(w.runner.line, evChunkRetry, c, fmt.Sprintf("worker: chunk %d: %s; it goes back on the queue", c.Seq, trimPrefix(err)), err)
		work.GiveBack()
		return
	case err != nil: // it could not run here
		st = broker.WorkStatus{Code: 127, Note: trimPrefix(err)}
	default:
		st = workStatus(w.runner.argv[0], state, tail)
	}
	if st.Code == 0 {
		end(metrics.Done)
	} else {
		end(metrics.Failed)
	}
	storing.Wait() // the result before
	storing.Add(1)
	go func() {
		defer storing.Done()
		defer stop()
		if err := work.Finish(ctx, st); err != nil {
			if ctx.Err() == nil {
				obs.chunkRetried()
				logChunk(w.runner.line, evChunkRetry, c, fmt.Sprintf("worker: chunk %d: %s", c.Seq, trimPrefix(err)), err)
			}
			work.GiveBack()
		}
	}()
}

// workStatus is the status a command ended with, and a line saying so.
func workStatus(name string, state *os.ProcessState, tail []string) broker.WorkStatus {
	code := state.ExitCode()
	status := "status " + strconv.Itoa(code)
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
		status = state.String()
	}
	if code == 0 {
		return broker.WorkStatus{}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s exited with %s", name, status)
	if len(tail) == 0 {
		b.WriteString("; it wrote nothing on standard error")
	} else {
		b.WriteString("; its last standard error: ")
		for i, l := range tail {
			if i > 0 {
				b.WriteString(" | ")
			}
			fmt.Fprintf(&b, "%q", l)
		}
	}
	return broker.WorkStatus{Code: code, Note: b.String()}
}
