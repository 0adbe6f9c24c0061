package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/flow"
	"github.com/spf13/cobra"
)

// viaFlags are the flags of map --via: the exec servers, and how to reach
// them (the endpoint flags that apply to a dialing side).
type viaFlags struct {
	addrs    []string
	ep       endpointFlags
	replicas int // of a work queue's streams
}

const viaHelp = `With --via ADDR (once per server), each chunk goes to a "farpipe exec
--listen" server instead, in a session of its own: the server runs its own
command, fixed when it was started, on the chunk, and map never chooses it
(give no CMD). --jobs chunks run at once on each server. A server that fails
while it runs a chunk (its connection is lost for longer than
--resume-timeout, 5s here, or it refuses the chunk) rests a while, and the
chunk runs again on another server; its output was held back, so nothing is
written twice. FARPIPE_CHUNK and FARPIPE_OFFSET do not reach remote
commands. The token, --no-encrypt and the certificates work as for send.

`

// addVia adds --via to the map command: with it, map runs each chunk on an
// exec server instead of a local command.
func addVia(cmd *cobra.Command, f *mapFlags) {
	v := &viaFlags{ep: endpointFlags{peerVerb: "exec"}} // the side of connect
	fl := cmd.Flags()
	fl.StringArrayVar(&v.addrs, "via", nil, `run each chunk on the "farpipe exec --listen" server at ADDR (repeat for several servers), or on the workers of the queue nats://RELAY/QUEUE, kafka://BROKER/TOPIC or amqp://HOST/QUEUE`)
	fl.IntVar(&v.replicas, "replicas", 1, "--via nats://RELAY/QUEUE: copies of the queue's streams in a NATS cluster, when map creates them")
	fl.StringVar(&v.ep.tokenFile, "token-file", "", "--via: read the shared token from this file (default: $FARPIPE_TOKEN or the fp:// address)")
	fl.BoolVar(&v.ep.noEncrypt, "no-encrypt", false, "--via: do not encrypt (trusted networks only)")
	fl.StringVar(&v.ep.cert, "cert", "", "--via: mutual TLS: this side's certificate (PEM)")
	fl.StringVar(&v.ep.key, "key", "", "--via: mutual TLS: this side's private key (PEM)")
	fl.StringVar(&v.ep.ca, "ca", "", "--via: mutual TLS: the CA of the servers' certificates (PEM)")
	fl.DurationVar(&v.ep.resume, "resume-timeout", 5*time.Second, "--via: how long a dropped connection may take to come back before the chunk runs on another server")
	fl.DurationVar(&v.ep.keepalive, "keepalive-timeout", 4*time.Second, "--via: a connection on which nothing arrives for this long counts as dropped")
	fl.StringVar(&v.ep.window, "window", "256KiB", "--via: most bytes in flight per chunk's session; every session allocates its buffers anew")
	v.ep.backoffMax = 500 * time.Millisecond
	cmd.Long = strings.Replace(cmd.Long, "Exit status:", viaHelp+viaQueueHelp+"Exit status:", 1)
	cmd.Use = "map [flags] -- CMD [ARGS...]\n  farpipe map [flags] --via ADDR [--via ADDR...]"
	cmd.Example += "\n  farpipe map --via fp://hostA:7000/#TOKEN --via fp://hostB:7000/#TOKEN -j 4 < big.log" +
		"\n  farpipe map --via nats://relay.example:4222/logs < big.log   (with farpipe worker on other hosts)"
	args, run := cmd.Args, cmd.RunE
	cmd.Args = func(cmd *cobra.Command, a []string) error {
		if len(v.addrs) == 0 {
			return args(cmd, a)
		}
		if len(a) > 0 {
			return usagef("with --via the exec servers run their own command: give none (got %q)", a[0])
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		if len(v.addrs) == 0 {
			return run(cmd, a)
		}
		for _, addr := range v.addrs {
			if broker.QueueScheme(addr) {
				if len(v.addrs) > 1 {
					return usagef("map: --via %s is a work queue: give it alone, without other --via", displayAddr(addr))
				}
				return runMapQueue(cmd.Context(), f, addr, v.replicas, cmd.Flags().Changed("jobs"))
			}
		}
		return runMapVia(cmd.Context(), f, v)
	}
}

func runMapVia(ctx context.Context, f *mapFlags, vf *viaFlags) error {
	cfg, mc, err := f.config()
	if err != nil {
		return err
	}
	opts, err := vf.ep.options()
	if err != nil {
		return err
	}
	// Chunks of a file stay at --block (1 MiB) with --via: each one's
	// output is held in memory until its command ends.
	src, done, err := mapSource(ctx, os.Stdin, cfg, false, 0)
	if err != nil {
		return err
	}
	defer done()
	growPipe(os.Stdout)
	v := &via{pool: newViaPool(vf.addrs, f.jobs), opts: opts, stderr: os.Stderr,
		attempts: len(vf.addrs) + 1, retries: f.retries}
	defer v.wait()
	mc.Jobs = f.jobs * len(vf.addrs)
	mc.Hold = true // a chunk whose server fails runs again elsewhere
	mc.OutputBuffer = min(max(flow.DefaultBlock, 2*cfg.Block+64<<10), 16<<20)
	err = flow.Map(ctx, src, os.Stdout, mc, v.job)
	if errors.Is(err, farpipe.ErrAuth) { // no server would take any chunk
		return fmt.Errorf("farpipe: map --via: %w", unprefixed{errors.Unwrap(err)})
	}
	return mapResult(err)
}
