//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the harness started, waited for in the background.
type child struct {
	role      string // what it is in the pipeline: producer, send, recv, sshd
	cmd       *exec.Cmd
	usageFile string // where GNU time wrote its figures, if it wraps the process
	stderr    tailBuffer
	done      chan struct{} // closed once the process has exited
	err       error         // from Wait, valid after done
}

// timeBin is GNU time, which measures a process's peak memory from a
// small parent: the kernel counts a process's memory before exec in its
// peak, and a process the harness starts directly is forked from the
// harness's own (larger) memory.
const timeBin = "/usr/bin/time"

// timed wraps argv in GNU time, which writes the peak resident memory in
// KiB and the user and system CPU seconds to file.
func timed(file string, argv []string) []string {
	return append([]string{timeBin, "-f", "%M %U %S", "-o", file}, argv...)
}

// startChild starts cmd in a process group of its own, which is killed
// when cmd's context ends, and keeps the end of its standard error (also
// written to cmd.Stderr if that is set).
func startChild(role string, cmd *exec.Cmd) (*child, error) {
	c := &child{role: role, cmd: cmd, done: make(chan struct{})}
	if cmd.Stderr != nil { // the caller watches it too
		cmd.Stderr = io.MultiWriter(cmd.Stderr, &c.stderr)
	} else {
		cmd.Stderr = &c.stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("farpipe bench: starting %s (%s): %v", role, c.prog(), err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// prog is the program's name, past the GNU time wrapper.
func (c *child) prog() string {
	if c.usageFile != "" && len(c.cmd.Args) > 5 {
		return filepath.Base(c.cmd.Args[5])
	}
	return filepath.Base(c.cmd.Path)
}

// exited reports whether the process has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit and explains a failure with the
// end of its standard error.
func (c *child) wait() error {
	<-c.done
	if c.err != nil {
		return fmt.Errorf("farpipe bench: %s (%s) failed: %v%s", c.role, c.prog(), c.err, c.stderr.suffix())
	}
	return nil
}

// stop asks the process group to terminate, kills it if it does not
// within 3 seconds, and waits for it.
func (c *child) stop() {
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// usage is the CPU time (user+system, seconds) and the peak resident
// memory (bytes) of the exited process, as GNU time measured them. Without
// GNU time, it is the CPU time the kernel reported and no memory figure.
func (c *child) usage() (cpu float64, rss int64, err error) {
	if c.usageFile == "" {
		if ps := c.cmd.ProcessState; ps != nil {
			cpu = (ps.UserTime() + ps.SystemTime()).Seconds()
		}
		return cpu, 0, nil
	}
	b, err := os.ReadFile(c.usageFile)
	if err != nil {
		return 0, 0, fmt.Errorf("farpipe bench: the figures of GNU time: %v", err)
	}
	// The figures are the last line, after any "Command exited ..." line.
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var kib int64
	var user, sys float64
	if _, err := fmt.Sscanf(lines[len(lines)-1], "%d %g %g", &kib, &user, &sys); err != nil {
		return 0, 0, fmt.Errorf("farpipe bench: the figures of GNU time %q: %v", b, err)
	}
	return user + sys, kib << 10, nil
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 2048; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

// suffix is ": " and the kept text on one line, or "" when there is none.
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.Join(strings.Fields(strings.ReplaceAll(string(t.buf), "\n", " | ")), " ")
	if s == "" {
		return ""
	}
	return ": " + s
}
