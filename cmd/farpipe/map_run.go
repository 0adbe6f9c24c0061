package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/farpipe/farpipe/flow"
	"github.com/farpipe/farpipe/proc"
)

// killGrace is how long a command may take to exit after the signal that
// stops it, before SIGKILL.
const killGrace = 5 * time.Second

// stderrTail is how many of a command's last stderr lines a failure report
// shows.
const stderrTail = 3

// mapRunner runs map's command on chunks.
type mapRunner struct {
	path      string
	argv      []string
	env       []string
	retries   int
	keepGoing bool

	stderrMu sync.Mutex // one line at a time on os.Stderr
}

func newMapRunner(path string, argv []string, retries int, keepGoing bool) *mapRunner {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FARPIPE_CHUNK=") && !strings.HasPrefix(kv, "FARPIPE_OFFSET=") {
			env = append(env, kv)
		}
	}
	return &mapRunner{path: path, argv: argv, env: env, retries: retries, keepGoing: keepGoing}
}

// cmdFailure is a command that exited non-zero (or was killed) on a chunk.
type cmdFailure struct {
	name     string
	state    *os.ProcessState
	attempts int
	first    []byte   // the chunk's first record
	tail     []string // its last lines of stderr
}

func (e *cmdFailure) Error() string {
	var b strings.Builder
	status := e.state.String()
	if ws, ok := e.state.Sys().(syscall.WaitStatus); ok && ws.Exited() {
		status = "status " + strconv.Itoa(ws.ExitStatus())
	}
	fmt.Fprintf(&b, "%s exited with %s", e.name, status)
	if e.attempts > 1 {
		fmt.Fprintf(&b, " (%d attempts)", e.attempts)
	}
	fmt.Fprintf(&b, "; first record %q", e.first)
	if len(e.tail) > 0 {
		b.WriteString("; its last standard error: ")
		for i, l := range e.tail {
			if i > 0 {
				b.WriteString(" | ")
			}
			fmt.Fprintf(&b, "%q", l)
		}
	} else {
		b.WriteString("; it wrote nothing on standard error")
	}
	return b.String()
}

// job is the flow.Job of map: run the command on the chunk, again on
// failure while retries remain and its output can be taken back.
func (r *mapRunner) job(ctx context.Context, c *flow.Chunk, out *flow.Output) error {
	for attempt := 1; ; attempt++ {
		state, tail, err := r.runOnce(ctx, c, out)
		if err == nil && state.Success() {
			return nil
		}
		if cerr := context.Cause(ctx); cerr != nil {
			return cerr
		}
		if err != nil {
			return err
		}
		if attempt <= r.retries && out.Discard() {
			obs.chunkRetried()
			continue
		}
		fail := &cmdFailure{name: r.argv[0], state: state, attempts: attempt, first: c.FirstRecord(80), tail: tail}
		if attempt <= r.retries {
			fail.name += " (not retried: part of its output was already written)"
		}
		if r.keepGoing {
			logChunk(r.line, evChunkFailed, c, fmt.Sprintf("map: chunk %d (%s) failed: %v", c.Seq, byteRange(c.Offset, c.Size), fail), fail)
		}
		return fail
	}
}

// runOnce runs the command once with the chunk on its standard input and
// its standard output to out.
func (r *mapRunner) runOnce(ctx context.Context, c *flow.Chunk, out io.Writer) (*os.ProcessState, []string, error) {
	var p mapPipes
	defer p.close()
	if err := p.open(); err != nil {
		return nil, nil, fmt.Errorf("farpipe: map: %w", err)
	}
	if c.Size+int64(len(c.Header)) > 64<<10 {
		growPipe(p.inW)
		growPipe(p.outR)
	}
	env := append(r.env[:len(r.env):len(r.env)],
		"FARPIPE_CHUNK="+strconv.FormatInt(c.Seq, 10), "FARPIPE_OFFSET="+strconv.FormatInt(c.Offset, 10))
	cmd := &exec.Cmd{Path: r.path, Args: r.argv, Env: env, Stdin: p.inR, Stdout: p.outW, Stderr: p.errW}
	proc.OwnGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("farpipe: map: cannot run %s: %w", r.argv[0], err)
	}
	p.closeChildEnds()
	k := newKiller(ctx, cmd.Process.Pid)
	defer k.stop()

	var (
		wg    sync.WaitGroup
		tail  []string
		inErr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		inErr = feedChunk(p.inW, c)
		p.inW.Close()
	}()
	go func() {
		defer wg.Done()
		tail = r.passStderr(p.errR)
	}()
	_, copyErr := io.Copy(out, p.outR)
	if copyErr != nil {
		k.kill(syscall.SIGKILL) // it cannot write its output any more
	}
	p.outR.Close()
	werr := cmd.Wait()
	wg.Wait()
	if ctx.Err() != nil {
		k.kill(syscall.SIGKILL) // whatever it left behind
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return nil, tail, fmt.Errorf("farpipe: map: waiting for %s: %w", r.argv[0], werr)
	}
	if copyErr != nil {
		return cmd.ProcessState, tail, copyErr
	}
	return cmd.ProcessState, tail, inErr
}

// feedChunk writes the chunk to the command's standard input. A command
// that exits without reading all of it is its own business, as in a shell
// pipeline: write errors are not failures. It returns the error of reading
// the input file, if the chunk is a section of one: a file that shrank
// must not pass for a shorter chunk.
func feedChunk(w *os.File, c *flow.Chunk) error {
	if len(c.Header) > 0 {
		if _, err := w.Write(c.Header); err != nil {
			return nil
		}
	}
	if c.Data != nil || c.Src == nil {
		w.Write(c.Data)
		return nil
	}
	if f, ok := c.Src.(*os.File); ok {
		if done, err := spliceFile(w, f, c.SrcOffset, c.Size); done || err != nil {
			return inputErr(c, err)
		}
	}
	r := &readErr{r: io.NewSectionReader(c.Src, c.SrcOffset, c.Size)}
	n, _ := io.Copy(w, r)
	switch {
	case r.err != nil && !errors.Is(r.err, io.EOF):
		return inputErr(c, r.err)
	case r.err != nil && n < c.Size:
		return inputErr(c, io.ErrUnexpectedEOF)
	}
	return nil // all of it, or the command stopped reading
}

// inputErr says that the input file could not give a chunk's bytes.
func inputErr(c *flow.Chunk, err error) error {
	if err == nil || errors.Is(err, syscall.EPIPE) {
		return nil
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("farpipe: map: the input file is shorter than when map started (chunk %d at offset %d): %w", c.Seq, c.Offset, err)
	}
	return fmt.Errorf("farpipe: map: reading the input for chunk %d at offset %d: %w", c.Seq, c.Offset, err)
}

// readErr keeps the error of its reader.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// passStderr copies the command's standard error to ours one whole line at
// a time, and returns its last lines.
func (r *mapRunner) passStderr(f *os.File) []string {
	br := bufio.NewReaderSize(f, 64<<10)
	var tail []string
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if err == nil || errors.Is(err, bufio.ErrBufferFull) {
				r.line(string(line))
			} else {
				r.line(string(line) + "\n") // a last line without newline
			}
			t := strings.TrimRight(string(line), "\n")
			if len(t) > 200 {
				t = t[:200]
			}
			if tail = append(tail, t); len(tail) > stderrTail {
				tail = tail[1:]
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return tail
		}
	}
}

// line writes s to standard error, never in the middle of another line.
func (r *mapRunner) line(s string) {
	r.stderrMu.Lock()
	os.Stderr.WriteString(s)
	r.stderrMu.Unlock()
}

// mapPipes are the three pipes of one command.
type mapPipes struct {
	inR, inW, outR, outW, errR, errW *os.File
}

func (p *mapPipes) open() error {
	var err error
	if p.inR, p.inW, err = os.Pipe(); err != nil {
		return err
	}
	if p.outR, p.outW, err = os.Pipe(); err != nil {
		return err
	}
	p.errR, p.errW, err = os.Pipe()
	return err
}

func (p *mapPipes) closeChildEnds() {
	for _, f := range []**os.File{&p.inR, &p.outW, &p.errW} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
}

func (p *mapPipes) close() {
	p.closeChildEnds()
	for _, f := range []*os.File{p.inW, p.outR, p.errR} {
		if f != nil {
			f.Close()
		}
	}
}

// killer passes the signal that cancelled map on to a command's process
// group, and SIGKILL after killGrace. Once stopped it signals nothing: the
// group's id may then be free for reuse.
type killer struct {
	pgid  int
	after func() bool

	mu      sync.Mutex
	stopped bool
	timer   *time.Timer
}

func newKiller(ctx context.Context, pgid int) *killer {
	k := &killer{pgid: pgid}
	k.after = context.AfterFunc(ctx, func() {
		sig := syscall.SIGTERM
		var se *signalError
		if errors.As(context.Cause(ctx), &se) && se.sig != syscall.SIGHUP {
			sig = se.sig
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.stopped {
			return
		}
		proc.SignalGroup(k.pgid, sig)
		k.timer = time.AfterFunc(killGrace, func() { k.kill(syscall.SIGKILL) })
	})
	return k
}

// kill sends sig to the group unless the killer was stopped.
func (k *killer) kill(sig syscall.Signal) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.stopped {
		proc.SignalGroup(k.pgid, sig)
	}
}

// stop ends the killer once the command was waited for.
func (k *killer) stop() {
	k.after()
	k.mu.Lock()
	k.stopped = true
	if k.timer != nil {
		k.timer.Stop()
	}
	k.mu.Unlock()
}
