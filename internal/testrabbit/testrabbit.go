//go:build linux

// Package testrabbit runs a private RabbitMQ broker (Debian's
// rabbitmq-server) on loopback for the tests of one package: its own node
// name, ports, data directory and epmd, so that it never meets the
// system's broker or another package's. Stop ends every process it started.
package testrabbit

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Server is a private rabbitmq-server process and its epmd.
type Server struct {
	dir              string
	name             string
	port, dist, epmd int
	epmdCmd          *exec.Cmd
	cmd              *exec.Cmd
	exited           chan struct{}
}

// ServerScript is the rabbitmq-server start script that Start runs (as
// the user running the tests: root in CI).
const ServerScript = "/usr/lib/rabbitmq/bin/rabbitmq-server"

// ErrMissing: rabbitmq-server is not installed.
var ErrMissing = errors.New("testrabbit: rabbitmq-server is not installed: apt-get install rabbitmq-server (and stop its service: systemctl disable --now rabbitmq-server)")

// Skip reports why the tests cannot run here: off Linux they are skipped
// (the caller skips); on Linux a missing broker is a failure, not a skip.
func Skip() string {
	if runtime.GOOS != "linux" {
		return "testrabbit: RabbitMQ tests run on Linux only"
	}
	return ""
}

// Start starts a broker in a new temporary directory and waits until it
// answers AMQP (at most two minutes).
func Start() (*Server, error) {
	if _, err := os.Stat(ServerScript); err != nil {
		return nil, ErrMissing
	}
	reap()
	dir, err := os.MkdirTemp("", "testrabbit")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{dir: dir, name: fmt.Sprintf("farpipe%d@localhost", os.Getpid())}
	ports, err := freePorts(3)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.port, s.dist, s.epmd = ports[0], ports[1], ports[2]
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.epmdCmd = exec.Command("/usr/bin/epmd", "-port", strconv.Itoa(s.epmd))
	s.epmdCmd.Env = append(os.Environ(), "ERL_EPMD_ADDRESS=127.0.0.1")
	s.epmdCmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.epmdCmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testrabbit: starting epmd: %w", err)
	}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// URL is the broker's AMQP address with the default login and vhost,
// followed by path: URL("q") is amqp://guest:guest@127.0.0.1:PORT/q.
func (s *Server) URL(path string) string {
	return "amqp://guest:guest@127.0.0.1:" + strconv.Itoa(s.port) + "/" + path
}

func (s *Server) start() error {
	cmd := exec.Command(ServerScript)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(),
		"HOME="+s.dir, // the Erlang cookie is made here
		"RABBITMQ_NODENAME="+s.name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(s.port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(s.dist),
		"ERL_EPMD_PORT="+strconv.Itoa(s.epmd),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"RABBITMQ_MNESIA_BASE="+filepath.Join(s.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(s.dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(s.dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(s.dir, "rabbitmq"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(s.dir, "advanced.config"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(s.dir, "rabbitmq-env.conf"),
		"RABBITMQ_PID_FILE="+filepath.Join(s.dir, "pid"),
	)
	log, err := os.OpenFile(filepath.Join(s.dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: Stop signals the script, the Erlang VM and
	// the VM's helpers (erl_child_setup, inet_gethost) together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testrabbit: starting %s: %w", ServerScript, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()
	return s.wait()
}

// wait waits until the broker answers AMQP.
func (s *Server) wait() error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := amqp.DialConfig(s.URL(""), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("testrabbit: rabbitmq-server exited while starting: %s", s.tail())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testrabbit: rabbitmq-server did not answer within 2 minutes (%v): %s", err, s.tail())
		}
	}
}

// tail is the end of the broker's output, for errors.
func (s *Server) tail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.out"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// stop ends the broker: SIGTERM (a clean shutdown), SIGKILL after 30 s.
func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
	// The VM's helpers may outlive the script by a moment.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	s.cmd = nil
}

// Restart stops the broker cleanly and starts it again on the same ports
// with the same data; it returns when it answers AMQP again.
func (s *Server) Restart() error {
	s.stop()
	return s.start()
}

// Kill stops the broker at once (SIGKILL).
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Start again after Kill.
func (s *Server) StartAgain() error { return s.start() }

// Stop ends the broker and epmd and removes the data directory.
func (s *Server) Stop() {
	s.stop()
	if s.epmdCmd != nil && s.epmdCmd.Process != nil {
		_ = syscall.Kill(-s.epmdCmd.Process.Pid, syscall.SIGKILL)
		_ = s.epmdCmd.Wait()
		s.epmdCmd = nil
	}
	killHome(s.dir)
	os.RemoveAll(s.dir)
}

// reap ends the brokers of earlier test processes that died without
// Stop (a test binary killed by -timeout): each broker's directory names
// its test process; when that process is gone, every process whose HOME is
// the directory (the VM, its helpers, an epmd the VM started) is killed and
// the directory removed.
func reap() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "testrabbit*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || owner <= 0 || alive(owner) {
			continue
		}
		killHome(dir)
		os.RemoveAll(dir)
	}
}

// alive reports whether process pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// killHome kills every process whose HOME is dir: the broker's VM and
// helpers, and an epmd that the VM started itself (as a daemon, outside
// the process group).
func killHome(dir string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, env := range procs {
		e, err := os.ReadFile(env)
		if err != nil || !strings.Contains("\x00"+string(e)+"\x00", "\x00HOME="+dir+"\x00") {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(env))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
