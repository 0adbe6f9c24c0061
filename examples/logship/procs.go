package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type binaries struct{ farpipe, applog string }

// build builds farpipe (unless given) and the log writer into the work
// directory, without cgo (as CI's cross-platform builds: one build cache).
func build(cfg config) (binaries, error) {
	bin := filepath.Join(cfg.dir, "bin")
	b := binaries{farpipe: cfg.farpipe, applog: filepath.Join(bin, "applog")}
	root, err := moduleRoot()
	if err != nil {
		return b, err
	}
	pkgs := [][2]string{{"./examples/logship/applog", b.applog}}
	if b.farpipe == "" {
		b.farpipe = filepath.Join(bin, "farpipe")
		pkgs = append(pkgs, [2]string{"./cmd/farpipe", b.farpipe})
	}
	for _, p := range pkgs {
		step("go build -o %s %s", p[1], p[0])
		cmd := exec.Command("go", "build", "-o", p[1], p[0])
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("building %s: %w", p[0], err)
		}
	}
	return b, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (run it from the farpipe repository, with Go installed)", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run it from inside the farpipe repository: go run ./examples/logship")
	}
	return filepath.Dir(mod), nil
}

// process is a started command whose end is awaited once.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startProcess(name string, cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM and waits (SIGKILL after 10 s); it returns the exit code.
func (p *process) stop() int {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.cmd.ProcessState.ExitCode()
}

// kill sends SIGKILL and waits.
func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTo opens a process's log file, appending (a restarted process goes on
// in the same file).
func logTo(file string) (*os.File, error) {
	return os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

type relayProc struct {
	*process
	url, page string
}

// startRelay starts "farpipe relay" and waits for its ready line: the URL
// for clients and the live page's address.
func startRelay(farpipe, listen, http, store, logFile string) (*relayProc, error) {
	log, err := logTo(logFile)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(farpipe, "relay", "--listen", listen, "--http", http, "--store", store)
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(log, pw)
	p, err := startProcess("the relay", cmd)
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
		return &relayProc{process: p, url: f[0], page: strings.TrimSuffix(f[1], "/")}, nil
	case <-p.done:
		pw.Close()
		return nil, fmt.Errorf("the relay exited: %v (see %s)", p.err, logFile)
	case <-time.After(30 * time.Second):
		p.stop()
		pw.Close()
		return nil, fmt.Errorf("the relay did not get ready in 30 s (see %s)", logFile)
	}
}

// network is where the hosts run: network namespaces on a bridge (as
// root, with iproute2), or this host's own network.
type network struct {
	namespaces []string // one per host, or none
	bridge     string
	relayAddr  string // the address the relay listens at, for the hosts
}

// Addresses on the bridge: link-local, they exist only there.
const bridgeAddr = "169.254.80.1"

// newNetwork makes a namespace per host, each with a veth pair whose other
// end is on a bridge in this namespace, where the relay listens. Without
// root or ip, the hosts are plain processes and the relay is on loopback.
func newNetwork(hosts int, plain bool) (*network, string) {
	if plain {
		return &network{relayAddr: "127.0.0.1"}, "plain processes (-plain)"
	}
	if os.Geteuid() != 0 {
		return &network{relayAddr: "127.0.0.1"}, "plain processes (network namespaces need root)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return &network{relayAddr: "127.0.0.1"}, "plain processes (network namespaces need ip, from iproute2)"
	}
	id := rand.N(1 << 20)
	n := &network{bridge: fmt.Sprintf("fplb%d", id), relayAddr: bridgeAddr}
	cmds := [][]string{
		{"link", "add", n.bridge, "type", "bridge"},
		{"addr", "add", bridgeAddr + "/24", "dev", n.bridge},
		{"link", "set", n.bridge, "up"},
	}
	for i := range hosts {
		ns, host, peer := fmt.Sprintf("fpl%d-h%d", id, i+1), fmt.Sprintf("fplh%d_%d", id, i+1), fmt.Sprintf("fplr%d_%d", id, i+1)
		n.namespaces = append(n.namespaces, ns)
		cmds = append(cmds,
			[]string{"netns", "add", ns},
			[]string{"link", "add", host, "type", "veth", "peer", "name", peer},
			[]string{"link", "set", host, "netns", ns},
			[]string{"link", "set", peer, "master", n.bridge},
			[]string{"link", "set", peer, "up"},
			[]string{"-n", ns, "addr", "add", fmt.Sprintf("169.254.80.%d/24", 11+i), "dev", host},
			[]string{"-n", ns, "link", "set", host, "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"},
		)
	}
	for _, args := range cmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			n.remove()
			return &network{relayAddr: "127.0.0.1"}, fmt.Sprintf("plain processes (ip %s: %v: %s)",
				strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return n, fmt.Sprintf("network namespaces %s, each with a veth pair to bridge %s (%s), where the relay listens",
		strings.Join(n.namespaces, ", "), n.bridge, bridgeAddr)
}

// command returns the command line of host i's process.
func (n *network) command(i int, name string, args ...string) *exec.Cmd {
	if len(n.namespaces) == 0 {
		return exec.Command(name, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", n.namespaces[i], name}, args...)...)
}

// remove deletes the namespaces and the bridge (their veth pairs go with
// them). Processes in them must have ended.
func (n *network) remove() {
	for _, ns := range n.namespaces {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	if n.bridge != "" {
		exec.Command("ip", "link", "del", n.bridge).Run()
	}
}
