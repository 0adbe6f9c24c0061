package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/flow"
	"github.com/farpipe/farpipe/proc"
)

// via runs chunks on the exec servers of map --via, one session per chunk:
// the chunk goes to the server's command as its standard input, the
// command's output comes back. The server alone chooses the command.
type via struct {
	pool     *viaPool
	opts     []farpipe.Option
	stderr   io.Writer // the commands' standard error, whole lines at a time
	attempts int       // most server failures a chunk meets before it fails
	retries  int       // --retries: runs again of a command that exited non-zero
	stderrMu sync.Mutex

	closing sync.WaitGroup // sessions ending in the background
}

// viaHostError is a failure of an exec server or of the connection to it:
// the chunk may run on another server.
type viaHostError struct {
	host string
	err  error
}

func (e *viaHostError) Error() string {
	return fmt.Sprintf("farpipe: exec server %s failed: %s", e.host, trimPrefix(e.err))
}

func (e *viaHostError) Unwrap() error { return e.err }

// runOn runs one chunk on host h: in is the command's standard input, its
// output goes to stdout and its standard error to stderr. It returns the
// command's status, or a *viaHostError when the server or the connection
// failed, an error matching outputError when stdout failed, or an error
// that no other server would change (authentication, protocol).
func (v *via) runOn(ctx context.Context, h *viaHost, in io.Reader, stdout, stderr io.Writer) (proc.Status, error) {
	c, err := farpipe.Dial(ctx, h.addr, v.opts...)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return proc.Status{}, context.Cause(ctx)
		case final(err):
			return proc.Status{}, fmt.Errorf("farpipe: exec server %s: %w", h.name, unprefixed{err})
		}
		return proc.Status{}, &viaHostError{h.name, err}
	}
	obs.track(c)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := proc.Attach(actx, streams(c), in, output{stdout}, stderr, nil)
	var oe outputError
	switch {
	case err == nil:
		v.close(c)
		return st, nil
	case errors.As(err, &oe):
		c.Abort("map's output failed")
		v.closeAborted(c)
		return st, err
	case ctx.Err() != nil:
		c.Abort("map was stopped")
		v.closeAborted(c)
		return st, context.Cause(ctx)
	}
	c.Abort("map gave up on this chunk: " + trimPrefix(err))
	v.closeAborted(c)
	return st, &viaHostError{h.name, err}
}

// close ends a session whose command ended, in the background: the
// command's status is in, and the goodbye need not hold up the next chunk.
func (v *via) close(c *farpipe.Conn) {
	v.closing.Add(1)
	go func() {
		defer v.closing.Done()
		finish(c)
	}()
}

// closeAborted waits, in the background, until the reason of an abort has
// reached the server.
func (v *via) closeAborted(c *farpipe.Conn) {
	v.closing.Add(1)
	go func() {
		defer v.closing.Done()
		c.Wait()
	}()
}

// wait waits for the sessions ending in the background.
func (v *via) wait() { v.closing.Wait() }

// guarded passes reads to r or writes to w until closed: a chunk's bytes
// and its output belong to map again when its job returns, even if the
// session is still winding down.
type guarded struct {
	mu     sync.Mutex
	r      io.Reader
	w      io.Writer
	closed bool
}

func (g *guarded) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, io.ErrClosedPipe
	}
	return g.r.Read(p)
}

func (g *guarded) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, io.ErrClosedPipe
	}
	return g.w.Write(p)
}

func (g *guarded) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// viaExitError is a command on an exec server that exited non-zero.
type viaExitError struct {
	host     string
	status   proc.Status
	attempts int
	first    []byte   // the chunk's first record
	tail     []string // the command's last lines of standard error
}

func (e *viaExitError) Error() string {
	msg := fmt.Sprintf("the command of exec server %s ended with %s", e.host, e.status)
	if e.attempts > 1 {
		msg += fmt.Sprintf(" (%d attempts)", e.attempts)
	}
	msg += fmt.Sprintf("; first record %q", e.first)
	if len(e.tail) == 0 {
		return msg + "; it wrote nothing on standard error"
	}
	msg += "; its last standard error:"
	for i, l := range e.tail {
		if i > 0 {
			msg += " |"
		}
		msg += fmt.Sprintf(" %q", l)
	}
	return msg
}

// job is the flow.Job of map --via: it runs the chunk on a free slot of a
// server, and again on another when that server fails, or on any when the
// command exits non-zero and --retries allows. The command's output is held
// back until its job returns (flow.MapConfig.Hold), so that a failed
// attempt is discarded and nothing is written twice.
func (v *via) job(ctx context.Context, c *flow.Chunk, out *flow.Output) error {
	tried := map[int]bool{}
	hostFailures, attempts := 0, 0
	for {
		i, err := v.pool.acquire(ctx, tried)
		if err != nil {
			return err
		}
		h := v.pool.hosts[i]
		attempts++
		st, tail, err := v.attempt(ctx, h, c, out)
		var he *viaHostError
		if !errors.As(err, &he) {
			v.pool.release(i, false)
			switch {
			case err != nil:
				return err
			case st.ExitCode() == 0:
				return nil
			case attempts-hostFailures <= v.retries && out.Discard():
				obs.chunkRetried()
				continue
			}
			return &viaExitError{host: h.name, status: st, attempts: attempts - hostFailures, first: c.FirstRecord(80), tail: tail}
		}
		v.pool.release(i, true)
		tried[i] = true
		if hostFailures++; hostFailures >= v.attempts {
			return fmt.Errorf("%w; the chunk met %d failed servers and was given up", err, hostFailures)
		}
		if !out.Discard() {
			return fmt.Errorf("%w; part of the chunk's output was already written, so it cannot run again", err)
		}
		where := "on another server"
		if len(v.pool.hosts) == 1 {
			where = "on the same server after a pause"
		}
		obs.chunkRetried()
		logChunk(v.line, evChunkRetry, c, fmt.Sprintf("map: chunk %d: %s; running it again %s", c.Seq, trimPrefix(err), where), err)
	}
}

// attempt runs the chunk once on h, and returns the command's status and
// last lines of standard error.
func (v *via) attempt(ctx context.Context, h *viaHost, c *flow.Chunk, out *flow.Output) (proc.Status, []string, error) {
	lines := &lineWriter{line: v.line}
	in := &guarded{r: c.Reader()}
	stdout, stderr := &guarded{w: out}, &guarded{w: lines}
	st, err := v.runOn(ctx, h, in, stdout, stderr)
	// The session may still be winding down: from now on it reads nothing
	// of the chunk and writes nothing to out.
	in.close()
	stdout.close()
	stderr.close()
	lines.Close()
	return st, lines.tail, err
}

// line writes s to standard error, never in the middle of another line.
func (v *via) line(s string) {
	v.stderrMu.Lock()
	defer v.stderrMu.Unlock()
	io.WriteString(v.stderr, s)
}

// lineWriter passes whole lines to line, so that lines of different
// commands never mix; a last line without its newline goes out at Close.
// It keeps the last lines (up to stderrTail, each cut to 200 bytes).
type lineWriter struct {
	line func(string)
	buf  []byte
	tail []string
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	if i := bytes.LastIndexByte(l.buf, '\n'); i >= 0 {
		l.emit(string(l.buf[:i+1]))
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
	}
	return len(p), nil
}

// Close writes a last line that lacks its newline, with one.
func (l *lineWriter) Close() error {
	if len(l.buf) > 0 {
		l.emit(string(l.buf) + "\n")
		l.buf = nil
	}
	return nil
}

func (l *lineWriter) emit(lines string) {
	l.line(lines)
	for _, t := range strings.Split(strings.TrimSuffix(lines, "\n"), "\n") {
		if len(t) > 200 {
			t = t[:200]
		}
		if l.tail = append(l.tail, t); len(l.tail) > stderrTail {
			l.tail = l.tail[1:]
		}
	}
}
