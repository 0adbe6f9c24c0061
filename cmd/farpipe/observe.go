package main

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/spf13/cobra"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/flow"
	"github.com/farpipe/farpipe/internal/metrics"
)

// observer holds the metrics of --metrics ADDR for the running command: its
// parts are nil when the command has none, and every method is safe on a
// nil *observer (no --metrics).
type observer struct {
	srv      *metrics.Server
	reg      *metrics.Registry
	pipes    *metrics.Pipes
	work     *metrics.Work
	pub, sub *metrics.Stream
	depth    atomic.Pointer[func() (float64, bool)] // worker: the queue's depth
}

// obs is the running command's observer; nil without --metrics.
var obs *observer

// metricsParts are the commands that take --metrics and what they count.
var metricsParts = map[string]struct{ pipes, work, pub, sub bool }{
	"send": {pipes: true}, "recv": {pipes: true}, "exec": {pipes: true}, "connect": {pipes: true},
	"tee": {pipes: true}, "merge": {pipes: true},
	"map": {pipes: true, work: true}, "worker": {work: true},
	"pub": {pub: true}, "sub": {sub: true}, "relay": {},
}

// addObserveFlags adds --metrics to the long-running commands and
// --log-format to those that log events (-v, and map and worker).
func addObserveFlags(root *cobra.Command) {
	for _, c := range root.Commands() {
		if _, ok := metricsParts[c.Name()]; ok {
			c.Flags().String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics (host:port; port 0: a free one, printed on stderr); see docs/metrics.md")
		}
		if c.Flags().Lookup("verbose") != nil || c.Name() == "map" || c.Name() == "worker" {
			c.Flags().String("log-format", "text", `how events are written on stderr: text (lines "farpipe: ...") or json (one JSON object per event); see docs/logging.md`)
		}
	}
}

// startObserving applies --log-format and starts the server of --metrics,
// if cmd has them: the PersistentPreRunE of every command.
func startObserving(cmd *cobra.Command, args []string) error {
	if err := setLogFormat(cmd); err != nil {
		return err
	}
	fl := cmd.Flags().Lookup("metrics")
	if fl == nil || fl.Value.String() == "" {
		return nil
	}
	addr := fl.Value.String()
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usagef("--metrics %q: give host:port, such as 127.0.0.1:9310 (port 0: any free port)", addr)
	}
	o := &observer{reg: metrics.New()}
	parts := metricsParts[cmd.Name()]
	if parts.pipes {
		window := uint64(0)
		if w := cmd.Flags().Lookup("window"); w != nil {
			window, _ = humanize.ParseBytes(w.Value.String()) // the command checks it
		}
		o.pipes = o.reg.Pipes(int(window))
	}
	if parts.work {
		o.work = o.reg.Work(func() (float64, bool) {
			if f := o.depth.Load(); f != nil {
				return (*f)()
			}
			return 0, false
		})
	}
	if parts.pub && len(args) > 0 {
		o.pub = o.reg.Pub(streamName(args[0]))
	}
	if parts.sub && len(args) > 0 {
		o.sub = o.reg.Sub(streamName(args[0]))
	}
	srv, err := metrics.Serve(addr, o.reg)
	if err != nil {
		return err
	}
	o.srv = srv
	obs = o
	verbose := false
	if v := cmd.Flags().Lookup("verbose"); v != nil {
		verbose = v.Value.String() == "true"
	}
	if _, port, _ := net.SplitHostPort(addr); verbose || port == "0" {
		logEvent(evMetrics, "metrics at "+srv.URL(), "url", srv.URL())
	}
	return nil
}

// stopObserving stops the metrics server, if any.
func stopObserving() {
	if obs != nil {
		obs.srv.Close()
		obs = nil
	}
}

// streamName is the stream (or queue) of a nats://RELAY/STREAM address,
// the label of pub's and sub's metrics.
func streamName(addr string) string {
	if u, err := url.Parse(addr); err == nil && u.Path != "" {
		addr = u.Path
	}
	return addr[strings.LastIndexByte(addr, '/')+1:]
}

// track counts the pipe c in the metrics.
func (o *observer) track(c *farpipe.Conn) {
	if o != nil {
		o.pipes.Track(c)
	}
}

// listenerError counts a connection a listener rejected.
func (o *observer) listenerError(err error) {
	if o != nil {
		o.pipes.ListenerError(err)
	}
}

// job wraps map's job so that its chunks are counted: done, failed, in
// flight, and how long each took.
func (o *observer) job(j flow.Job) flow.Job {
	if o == nil || o.work == nil {
		return j
	}
	return func(ctx context.Context, c *flow.Chunk, out *flow.Output) error {
		end := o.work.Start()
		err := j(ctx, c, out)
		switch {
		case err == nil:
			end(metrics.Done)
		case ctx.Err() != nil: // stopped: another chunk failed, or a signal
			end(metrics.Abandoned)
		default:
			end(metrics.Failed)
		}
		return err
	}
}

// chunkStart counts a chunk that starts running (worker); the function it
// returns counts its end.
func (o *observer) chunkStart() func(metrics.Outcome) {
	if o == nil {
		return func(metrics.Outcome) {}
	}
	return o.work.Start()
}

// chunkRetried counts a chunk that runs again.
func (o *observer) chunkRetried() {
	if o != nil {
		o.work.Retried()
	}
}

// queueDepth gives the metrics the depth of worker's queue, when its driver
// can tell (a request to the relay at each scrape, bounded to 2 s).
func (o *observer) queueDepth(q any) {
	d, ok := q.(interface {
		Depth(context.Context) (uint64, error)
	})
	if o == nil || !ok {
		return
	}
	f := func() (float64, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := d.Depth(ctx)
		return float64(n), err == nil
	}
	o.depth.Store(&f)
}

// pubStored is PubConfig.Stored: the records pub stored.
func (o *observer) pubStored() func(records, bytes int) {
	if o == nil || o.pub == nil {
		return nil
	}
	return func(records, bytes int) { o.pub.Add(uint64(records), uint64(bytes), 1) }
}

// subProgress is SubOptions.Progress: what sub wrote, and its lag.
func (o *observer) subProgress() func(st broker.SubStats, pending uint64) {
	if o == nil || o.sub == nil {
		return nil
	}
	var last broker.SubStats // called on Sub's goroutine only
	return func(st broker.SubStats, pending uint64) {
		o.sub.Add(st.Records-last.Records, st.Bytes-last.Bytes, st.Messages-last.Messages)
		o.sub.Again(st.Again - last.Again)
		o.sub.Lag(pending)
		last = st
	}
}

// relay adds the numbers of the relay's NATS server.
func (o *observer) relay(ns *server.Server) {
	if o != nil {
		o.reg.NATS(ns)
	}
}
