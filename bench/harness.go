//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// harness is the state of one benchmark run.
type harness struct {
	cfg     *config
	tmp     string // temporary directory: binaries, ssh keys
	farpipe string // the farpipe binary built for this run
	gocopy  string // the gocopy binary
	token   string // FARPIPE_TOKEN shared by both farpipe ends
	sshd    *sshServer
	peers   []*peer    // the tools being measured
	data    []*dataset // the data sets
	dataDir string     // where the random data lives, removed at the end
	notes   []string   // skipped tools and other remarks for the report

	rev      string // git describe of the source built
	haveTime bool   // GNU time is installed, to measure peak memory
	trials   int    // transfers started, to name files
}

// note records a remark for the report and prints it now.
func (h *harness) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	h.notes = append(h.notes, n)
	logf("%s", n)
}

// repoRoot is the directory of the main module's go.mod.
func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("farpipe bench: run it inside the farpipe repository (go env GOMOD: %q, %v)", mod, err)
	}
	return filepath.Dir(mod), nil
}

// build compiles farpipe and gocopy into the temporary directory and makes
// up the token the farpipe ends share.
func (h *harness) build(ctx context.Context, root string) error {
	h.farpipe, h.gocopy = filepath.Join(h.tmp, "farpipe"), filepath.Join(h.tmp, "gocopy")
	for _, b := range []struct{ out, pkg string }{{h.farpipe, "./cmd/farpipe"}, {h.gocopy, "./bench/cmd/gocopy"}} {
		logf("go build -o %s %s", b.out, b.pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("farpipe bench: go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	h.rev = "(unknown revision)"
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "describe", "--always", "--dirty").Output(); err == nil {
		h.rev = strings.TrimSpace(string(out))
	}
	key := make([]byte, 32)
	rand.Read(key)
	h.token = base64.RawURLEncoding.EncodeToString(key) // 43 characters
	return nil
}

// choosePeers keeps the requested tools that are installed and ready,
// and notes why any other is skipped.
func (h *harness) choosePeers(ctx context.Context) {
	if h.haveTime = missing([]string{timeBin}) == ""; !h.haveTime {
		h.note("%s is not installed: no memory figures (apt-get install time, or go run ./bench --install)", timeBin)
	}
	for _, p := range h.catalog() {
		if !slices.Contains(h.cfg.peers, p.name) {
			continue
		}
		if why := missing(p.needs); why != "" {
			h.note("skipped %s: %s is not installed (go run ./bench --install installs it)", p.label, why)
			continue
		}
		if p.prepare != nil {
			if err := p.prepare(ctx); err != nil {
				h.note("skipped %s: %v", p.label, err)
				continue
			}
		}
		h.peers = append(h.peers, p)
	}
}

// missing names the first program of progs that cannot be found, or "".
func missing(progs []string) string {
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			return p
		}
	}
	return ""
}

// smokeTest moves 32 MiB through every tool once, which also warms the
// page cache, and drops the tools that fail.
func (h *harness) smokeTest(ctx context.Context) {
	const size = 32 << 20
	kept := h.peers[:0]
	for _, p := range h.peers {
		if _, err := h.trial(ctx, p, zeros(size), size); err != nil {
			h.note("skipped %s: it failed a %d MiB trial transfer: %v", p.label, size>>20, err)
			continue
		}
		kept = append(kept, p)
	}
	h.peers = kept
}

// measure runs every tool with every data set, interleaved: each round
// runs each data set through each tool once.
func (h *harness) measure(ctx context.Context) *results {
	var tools []tool
	for _, p := range h.peers {
		tools = append(tools, p.tool)
	}
	var names []string
	for _, d := range h.data {
		names = append(names, d.name)
	}
	res := newResults(h.cfg.size, h.cfg.runs, tools, names)
	res.rev, res.goVersion = h.rev, runtime.Version()
	res.cpus, res.loadBefore = runtime.NumCPU(), loadAverage()
	defer func() { res.load = loadAverage() }()
	total, i := h.cfg.runs*len(h.data)*len(h.peers), 0
	for round := 1; round <= h.cfg.runs; round++ {
		for _, d := range h.data {
			for _, p := range h.peers {
				if ctx.Err() != nil {
					return res
				}
				i++
				s, err := h.trial(ctx, p, d.producer, h.cfg.size)
				if err != nil {
					res.fail(p.name, d.name, err.Error())
					logf("[%2d/%d] run %d %-6s %-22s FAILED: %v", i, total, round, d.name, p.label, err)
					continue
				}
				s.round = round
				res.add(p.name, d.name, s)
				logf("[%2d/%d] run %d %-6s %-22s %6.2f GB/s in %5.2f s", i, total, round, d.name, p.label, s.gbps(), s.seconds)
			}
		}
	}
	return res
}

// loadAverage is the 1-minute load average, or "" if unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return ""
}

// newHarness makes a temporary directory and builds farpipe and gocopy
// from the repository at root into it; close removes it.
func newHarness(ctx context.Context, cfg *config, root string) (*harness, error) {
	tmp, err := os.MkdirTemp("", "farpipe-bench-")
	if err != nil {
		return nil, fmt.Errorf("farpipe bench: %v", err)
	}
	h := &harness{cfg: cfg, tmp: tmp}
	if err := h.build(ctx, root); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// close stops sshd and removes the random data and the temporary
// directory.
func (h *harness) close() {
	h.sshd.stop()
	if h.dataDir != "" {
		os.RemoveAll(h.dataDir)
	}
	os.RemoveAll(h.tmp)
}
