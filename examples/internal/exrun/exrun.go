// Package exrun is what the example systems share: building farpipe and
// their own commands from the repository, and starting, stopping and
// killing the processes they run (a relay among them).
package exrun

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Step prints the heading of a step of an example.
func Step(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}

// Build builds each package (an import path relative to the repository's
// root, and the binary to write) without cgo, as CI's cross-platform
// builds do, so that one build cache serves both.
func Build(pkgs ...[2]string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	for _, p := range pkgs {
		Step("go build -o %s %s", p[1], p[0])
		cmd := exec.Command("go", "build", "-o", p[1], p[0])
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %w", p[0], err)
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (run it from the farpipe repository, with Go installed)", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run it from inside the farpipe repository: go run ./examples/NAME")
	}
	return filepath.Dir(mod), nil
}

// LogTo opens a process's log file, appending (a restarted process goes on
// in the same file).
func LogTo(file string) (*os.File, error) {
	return os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

// Process is a started command whose end is awaited once, by a goroutine
// of its own that Stop, Kill and the end of the command wait for.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's, once done is closed
}

// Start starts cmd; name says what it is in the error.
func Start(name string, cmd *exec.Cmd) (*Process, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits (SIGKILL after 10 s); it returns the exit
// code.
func (p *Process) Stop() int {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.cmd.ProcessState.ExitCode()
}

// Kill sends SIGKILL and waits.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// Exited reports whether the process ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Relay is a running "farpipe relay".
type Relay struct {
	*Process
	URL  string // for clients, from its ready line
	Page string // the live page's address (with --http), without a trailing slash
}

// StartRelay starts "farpipe relay ARGS...", its standard error appended
// to logFile, and waits for its ready line (at most 30 s).
func StartRelay(farpipe, logFile string, args ...string) (*Relay, error) {
	log, err := LogTo(logFile)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(farpipe, append([]string{"relay"}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(log, pw)
	p, err := Start("the relay", cmd)
	if err != nil {
		return nil, err
	}
	found := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "relay ready: use "); ok {
				var page string
				if _, pg, ok := strings.Cut(rest, "page at "); ok {
					page = strings.Fields(pg)[0]
				}
				found <- [2]string{strings.Fields(rest)[0], page}
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case f := <-found:
		return &Relay{Process: p, URL: f[0], Page: strings.TrimSuffix(f[1], "/")}, nil
	case <-p.done:
		pw.Close()
		return nil, fmt.Errorf("the relay exited: %v (see %s)", p.err, logFile)
	case <-time.After(30 * time.Second):
		p.Stop()
		pw.Close()
		return nil, fmt.Errorf("the relay did not get ready in 30 s (see %s)", logFile)
	}
}
