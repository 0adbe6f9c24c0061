package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/flow"
	"github.com/farpipe/farpipe/internal/fan"
	"github.com/spf13/cobra"
)

func newMergeCmd() *cobra.Command {
	f := endpointFlags{peerVerb: "send"}
	var rf mergeRecords
	var (
		from  int
		label bool
	)
	cmd := &cobra.Command{
		Use:   "merge [flags] --listen ADDR --from N",
		Short: "Receive from N senders and write their records to standard output",
		Long: `Listen at ADDR for N senders (each a "farpipe send ADDR") and write the
records of all of them to standard output as they arrive: whole records only
(lines by default, NUL-terminated with -0, or ending with --recend STR),
never two senders' records mixed within a record. A last record without its
record end gets one.

One address and one token admit all N senders: run the printed command on
each of them. A sender that connects after the N-th is refused.

merge exits 0 when all N streams have ended with a verified checksum. A
sender that fails for good (it is interrupted, or its connection does not
come back within --resume-timeout) does not stop the others: merge writes
their records, then exits non-zero naming the failed sender (its
incomplete last record is dropped). With --label, each record starts with
the sender's name and a tab: its --name, or its address.

` + exitCodesHelp,
		Example: `  farpipe merge --listen :7000 --from 3 --label > all.log
  tail -F /var/log/syslog | farpipe send --name web1 fp://HOST:7000/#TOKEN   (on each host)`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || !f.listen {
				return usagef("farpipe merge takes --listen ADDR, for example: farpipe merge --listen :7000 --from 3")
			}
			if from < 1 {
				return usagef("--from %d: give the number of senders, 1 or more", from)
			}
			return rf.check()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f.sessions = from
			return runMerge(cmd.Context(), &f, &rf, args[0], from, label)
		},
	}
	f.register(cmd)
	rf.register(cmd)
	cmd.Flags().IntVar(&from, "from", 0, "how many senders to accept (required)")
	cmd.Flags().BoolVar(&label, "label", false, "start each record with the sender's name (send --name, default its address) and a tab")
	return cmd
}

// merge is the state of a running merge. Lock order: mu, then fan.In's.
type merge struct {
	ctx   context.Context
	out   *fan.In
	opts  fan.InOptions
	label bool
	wg    sync.WaitGroup // the senders' goroutines

	mu      sync.Mutex
	senders []*mergeSender
	outErr  error // standard output failed: every sender was told to stop
}

type mergeSender struct {
	c    *farpipe.Conn
	name string
	err  error
}

func runMerge(ctx context.Context, f *endpointFlags, rf *mergeRecords, addr string, from int, label bool) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	actx, refuse := context.WithCancelCause(ctx)
	defer refuse(nil)
	ln, err := f.listener(ctx, addr, opts, func(err error) bool {
		if errors.Is(err, farpipe.ErrAuth) {
			refuse(err)
			return true
		}
		return false
	})
	if err != nil {
		return err
	}
	defer ln.Close() // after the senders: the listener resumes their sessions
	if f.generatedToken && !f.quiet && from > 1 {
		logf("this address admits %d senders: run the command above on each of them", from)
	}
	growPipe(os.Stdout)
	m := &merge{ctx: ctx, out: fan.NewIn(os.Stdout), label: label,
		opts: fan.InOptions{Split: rf.splitter(), Term: []byte(rf.end())}}
	err = m.accept(actx, ln, from, f.verbose)
	if err == nil {
		err = m.wait()
	}
	if err != nil {
		m.abortAll(err)
	}
	m.wg.Wait()
	if err != nil {
		return err
	}
	return m.result(from)
}

// accept accepts from senders and starts copying each one's records.
func (m *merge) accept(ctx context.Context, ln *farpipe.Listener, from int, verbose bool) error {
	for range from {
		c, err := ln.Accept(ctx)
		if err != nil {
			if cause := context.Cause(ctx); errors.Is(cause, farpipe.ErrAuth) {
				return fmt.Errorf("farpipe: merge: %w", unprefixed{cause})
			}
			return interrupted(m.ctx, err)
		}
		obs.track(c)
		if verbose {
			logConnect(c)
		}
		s := &mergeSender{c: c, name: c.RemoteAddr().String()}
		m.mu.Lock()
		m.senders = append(m.senders, s)
		m.mu.Unlock()
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.copy(s, verbose)
		}()
	}
	ln.StopAccepting()
	return nil
}

// nameWait bounds the wait for a sender's name; farpipe send gives it at
// once, other programs may not give one at all.
const nameWait = 5 * time.Second

// copy writes the records of one sender.
func (m *merge) copy(s *mergeSender, verbose bool) {
	defer func() {
		finish(s.c)
		var ae *farpipe.AbortError
		if errors.As(s.c.Err(), &ae) && !ae.Remote {
			s.c.Wait() // until the reason reached the sender: a second at most
		}
	}()
	nctx, cancel := context.WithTimeout(m.ctx, nameWait)
	name, err := s.c.PeerName(nctx)
	cancel()
	if errors.Is(err, farpipe.ErrBadName) {
		m.fail(s, fmt.Errorf("farpipe: its name is not valid: %w", err))
		return
	}
	o := m.opts
	m.mu.Lock()
	if name != "" {
		s.name = name
	}
	if m.label {
		o.Prefix = []byte(s.name + "\t")
	}
	m.mu.Unlock()
	start := time.Now()
	n, err := m.out.Copy(m.ctx, s.c, o)
	if err != nil {
		m.fail(s, err)
	}
	if verbose {
		stats(s.c, "merge: "+s.name+": received", uint64(n), time.Since(start))
	}
}

// fail records that s failed. A failed standard output ends the merge:
// every sender is told to stop.
func (m *merge) fail(s *mergeSender, err error) {
	var oe *fan.OutputError
	if errors.As(err, &oe) {
		m.outputFailed(oe)
		return
	}
	if m.ctx.Err() != nil {
		return // interrupted: reported once by wait
	}
	if errors.Is(err, fan.ErrRecordTooBig) {
		s.c.Abort("the merge gave up on this sender: " + trimPrefix(err))
	}
	m.mu.Lock()
	s.err = err
	name := s.name
	m.mu.Unlock()
	logf("merge: sender %s failed: %s; carrying on with the others", name, trimPrefix(err))
}

// outputFailed tells every sender to stop, once.
func (m *merge) outputFailed(oe *fan.OutputError) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.outErr != nil {
		return
	}
	if errors.Is(oe.Err, syscall.EPIPE) {
		m.outErr = kindf(farpipe.ErrBrokenPipe, "farpipe: merge: broken pipe: standard output was closed (%v); told the senders to stop", oe.Err)
	} else {
		m.outErr = fmt.Errorf("farpipe: merge: writing standard output: %v; told the senders to stop", oe.Err)
	}
	for _, s := range m.senders {
		s.c.CloseRead()
	}
}

// wait waits for every sender's stream to end, or a signal.
func (m *merge) wait() error {
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-m.ctx.Done():
		return context.Cause(m.ctx)
	}
}

// abortAll aborts every sender, telling it why.
func (m *merge) abortAll(err error) {
	reason := "the merge stopped: " + trimPrefix(err)
	var se *signalError
	if errors.As(err, &se) {
		reason = "the merge was interrupted by " + signalName(se.sig)
	}
	m.mu.Lock()
	senders := m.senders
	m.mu.Unlock()
	for _, s := range senders {
		s.c.Abort(reason)
	}
}

// result is the error merge exits with: nil if every stream ended verified.
func (m *merge) result(from int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.outErr != nil {
		return m.outErr
	}
	var first *mergeSender
	var names []string
	for _, s := range m.senders {
		if s.err != nil {
			if first == nil {
				first = s
			}
			names = append(names, s.name)
		}
	}
	switch {
	case first == nil:
		return nil
	case len(names) == 1:
		return fmt.Errorf("farpipe: merge: sender %s failed: %w; the records of the other %d were written", first.name, unprefixed{first.err}, from-1)
	}
	return fmt.Errorf("farpipe: merge: %d of %d senders failed (%s); the first: %w",
		len(names), from, strings.Join(names, ", "), unprefixed{first.err})
}

// mergeRecords are the flags that say what a record is.
type mergeRecords struct {
	null   bool
	recend string
}

func (r *mergeRecords) register(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&r.null, "null", "0", false, "records end with a NUL byte (find -print0)")
	cmd.Flags().StringVar(&r.recend, "recend", "", `records end with this string (default: a newline; \n, \t, \r, \0, \\ and \xHH escapes)`)
}

func (r *mergeRecords) check() error {
	if r.null && r.recend != "" {
		return usagef("give -0 or --recend, not both")
	}
	if r.recend != "" {
		end, err := unescape(r.recend)
		if err != nil {
			return usagef("--recend %q: %v", r.recend, err)
		}
		if end == "" {
			return usagef("--recend %q: give a non-empty record end", r.recend)
		}
		r.recend = end
	}
	return nil
}

// end returns the record end.
func (r *mergeRecords) end() string {
	switch {
	case r.null:
		return "\x00"
	case r.recend != "":
		return r.recend // unescaped by check
	}
	return "\n"
}

func (r *mergeRecords) splitter() fan.Splitter { return flow.RecEnd(r.end()) }
