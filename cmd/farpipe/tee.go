package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/internal/fan"
	"github.com/spf13/cobra"
)

func newTeeCmd() *cobra.Command {
	f := endpointFlags{peerVerb: "recv", sessions: 1}
	var (
		sf        streamFlags
		keepGoing bool
	)
	cmd := &cobra.Command{
		Use:   "tee [flags] ADDR ADDR...",
		Short: "Send standard input to several receivers at once",
		Long: `Send standard input to every farpipe receiver at the addresses given (each
one as send accepts it: "host:port", "tcp://host:port", "fp://HOST:PORT/#TOKEN",
...), at the pace of the slowest: memory stays bounded, and a receiver that
reads slowly slows the others.

tee exits 0 only after every receiver has written every byte to its output.
When one fails, tee says which (its address and why) and aborts the others
(their recv exits 4); with --keep-going the others carry on, and tee exits
non-zero at the end naming each receiver that failed. Its exit status is
then the one send would have had for the first failure.

` + exitCodesHelp,
		Example: `  tar c /srv | farpipe tee backup1:7000 backup2:7000
  farpipe tee --keep-going fp://a:7000/#TOKEN1 fp://b:7000/#TOKEN2 < disk.img`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("farpipe tee needs at least one address, for example: farpipe tee host1:7000 host2:7000")
			}
			if f.listen {
				return usagef("farpipe tee dials every receiver and cannot --listen: start each with farpipe recv --listen")
			}
			if sf.fifo != "" {
				return usagef("farpipe tee reads standard input; --fifo is not supported")
			}
			if err := farpipe.CheckName(sf.name); err != nil {
				return usagef("--name %q: give at most %d bytes of printable text", sf.name, farpipe.MaxNameLen)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTee(cmd.Context(), &f, &sf, args, keepGoing, os.Stdin)
		},
	}
	f.register(cmd)
	sf.register(cmd, "read")
	sf.rate.register(cmd)
	cmd.Flags().StringVar(&sf.name, "name", "", "the name the receivers give this sender (merge --label; default: its address)")
	cmd.Flags().BoolVar(&keepGoing, "keep-going", false, "when a receiver fails, carry on with the others (exit non-zero at the end)")
	return cmd
}

// teeTarget is one receiver of a tee.
type teeTarget struct {
	addr    string // as shown to the user: without the token
	c       *farpipe.Conn
	err     error // why it failed, nil if it has not
	stopped bool  // aborted by tee because another receiver failed
}

// tee is the state of a running tee. Lock order: mu only.
type tee struct {
	ctx       context.Context
	name      string // --name, told to every receiver
	keepGoing bool
	targets   []*teeTarget

	mu    sync.Mutex
	first *teeTarget // the first to fail, nil if none did
}

// delivered is what every receiver still going has confirmed: the progress
// of the slowest, which sets tee's pace.
func (t *tee) delivered() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n uint64
	some := false
	for _, tg := range t.targets {
		if tg.c == nil || tg.err != nil {
			continue
		}
		if d := tg.c.Stats().Delivered; !some || d < n {
			n, some = d, true
		}
	}
	return n
}

func runTee(ctx context.Context, f *endpointFlags, sf *streamFlags, addrs []string, keepGoing bool, in *os.File) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	if _, err := sf.progress.check(); err != nil {
		return err
	}
	if _, err := sf.rate.check(); err != nil {
		return err
	}
	t := &tee{ctx: ctx, name: sf.name, keepGoing: keepGoing}
	for _, a := range addrs {
		t.targets = append(t.targets, &teeTarget{addr: displayAddr(a)})
	}
	if f.verbose && f.noEncrypt {
		logf("encryption is off (--no-encrypt): peers authenticate, but the stream crosses the network in clear")
	}
	t.dialAll(f, addrs, opts)
	defer t.closeAll()
	if err := t.result(); err != nil && !keepGoing {
		return err
	}
	start := time.Now()
	err = t.untilSignal(func() error {
		growPipe(in)
		defer sf.track("tee", sizeOf(in), t.delivered)()
		return t.copy(sf.rate.reader(t.ctx, in))
	})
	if err == nil {
		t.drainAll()
		err = t.result()
	}
	if f.verbose {
		for _, tg := range t.targets {
			if tg.c != nil {
				stats(tg.c, "tee: "+tg.addr+": sent", tg.c.Stats().Delivered, time.Since(start))
			}
		}
	}
	return err
}

// displayAddr returns addr without the token an fp:// address carries,
// to name a receiver in messages.
func displayAddr(addr string) string {
	if a, _, ok := strings.Cut(addr, "#"); ok {
		return a
	}
	return addr
}

// dialAll connects to every receiver at once, each retrying for up to --wait.
func (t *tee) dialAll(f *endpointFlags, addrs []string, opts []farpipe.Option) {
	var wg sync.WaitGroup
	for i, tg := range t.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := f.dial(t.ctx, addrs[i], opts)
			if err == nil {
				err = c.SendName(t.name) // for a merge at the other end
			}
			if err != nil {
				t.fail(tg, err)
				return
			}
			t.mu.Lock()
			tg.c = c
			var culprit string
			if tg.stopped { // another receiver could not be reached
				culprit = t.first.addr
			}
			t.mu.Unlock()
			if culprit != "" {
				c.Abort("another receiver of the tee (" + culprit + ") could not be reached")
			}
		}()
	}
	wg.Wait()
}

// live returns the receivers that are connected and have not failed.
func (t *tee) live() []*teeTarget {
	t.mu.Lock()
	defer t.mu.Unlock()
	var l []*teeTarget
	for _, tg := range t.targets {
		if tg.c != nil && tg.err == nil && !tg.stopped {
			l = append(l, tg)
		}
	}
	return l
}

// fail records that tg failed with err; unless --keep-going, the first
// failure aborts every other receiver, telling it why.
func (t *tee) fail(tg *teeTarget, err error) {
	t.mu.Lock()
	if tg.err != nil || tg.stopped {
		t.mu.Unlock()
		return
	}
	tg.err = err
	var stop []*teeTarget
	if t.first == nil {
		t.first = tg
		if !t.keepGoing {
			for _, o := range t.targets {
				if o != tg && o.err == nil && !o.stopped {
					o.stopped = true
					stop = append(stop, o)
				}
			}
		}
	}
	t.mu.Unlock()
	if t.keepGoing {
		logf("tee: receiver %s failed: %s; carrying on with the others", tg.addr, trimPrefix(err))
	}
	if tg.c != nil {
		tg.c.Abort("the tee gave up on this receiver: " + trimPrefix(err))
	}
	for _, o := range stop {
		if o.c != nil {
			o.c.Abort("another receiver of the tee (" + tg.addr + ") failed")
		}
	}
}

// copy sends in to every live receiver at the pace of the slowest.
func (t *tee) copy(in io.Reader) error {
	live := t.live()
	if len(live) == 0 {
		return nil
	}
	dsts := make([]io.Writer, len(live))
	for i, tg := range live {
		dsts[i] = tg.c
	}
	res := fan.Out(t.ctx, input{in}, dsts, fan.OutOptions{
		BufSize:   copyBuf,
		KeepGoing: t.keepGoing,
		OnError: func(i int, err error) {
			t.fail(live[i], sendErr(t.ctx, live[i].c, err))
		},
	})
	var ie inputError
	if errors.As(res.ReadErr, &ie) {
		for _, tg := range t.live() {
			tg.c.Abort("the sender could not read its input")
		}
		return fmt.Errorf("farpipe: reading standard input: %v: the receivers were told the stream is incomplete", ie.err)
	}
	return res.ReadErr // a signal, handled by untilSignal
}

// drainAll closes every live receiver's stream and waits until each has
// confirmed every byte.
func (t *tee) drainAll() {
	var wg sync.WaitGroup
	for _, tg := range t.live() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tg.c.CloseWrite()
			if err == nil {
				err = tg.c.Drain(t.ctx)
			}
			if err != nil {
				t.fail(tg, sendErr(t.ctx, tg.c, err))
			}
		}()
	}
	wg.Wait()
}

// result is the error tee exits with: nil if no receiver failed.
func (t *tee) result() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.first == nil {
		return nil
	}
	if !t.keepGoing {
		what := "the others were aborted"
		if len(t.targets) == 1 {
			what = "it was the only one"
		}
		return fmt.Errorf("farpipe: tee: receiver %s failed: %w; %s", t.first.addr, unprefixed{t.first.err}, what)
	}
	var names []string
	for _, tg := range t.targets {
		if tg.err != nil {
			names = append(names, tg.addr)
		}
	}
	return fmt.Errorf("farpipe: tee: %d of %d receivers failed (%s), the others received everything; the first: %w",
		len(names), len(t.targets), strings.Join(names, ", "), unprefixed{t.first.err})
}

// unprefixed prints err without its "farpipe: " prefix and still matches
// it with errors.Is and errors.As, so that the exit status follows it.
type unprefixed struct{ err error }

func (u unprefixed) Error() string { return trimPrefix(u.err) }
func (u unprefixed) Unwrap() error { return u.err }

// untilSignal runs f, unless ctx is cancelled by a signal first: then it
// aborts every receiver, telling it why, and returns the signal at once.
func (t *tee) untilSignal(f func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- f() }()
	select {
	case err := <-errc:
		return err
	case <-t.ctx.Done():
		reason := "the tee was interrupted"
		var se *signalError
		if errors.As(context.Cause(t.ctx), &se) {
			reason += " by " + signalName(se.sig)
		}
		for _, tg := range t.targets {
			if tg.c != nil {
				tg.c.Abort(reason)
			}
		}
		return context.Cause(t.ctx)
	}
}

// closeAll closes every connection and waits a little for the goodbyes,
// and for the reasons of aborts to reach their peers.
func (t *tee) closeAll() {
	var wg sync.WaitGroup
	for _, tg := range t.targets {
		if tg.c != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				finish(tg.c)
				var ae *farpipe.AbortError
				if errors.As(tg.c.Err(), &ae) && !ae.Remote {
					tg.c.Wait() // about a second at most
				}
			}()
		}
	}
	wg.Wait()
}
