package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type binaries struct{ farpipe, thumbnail string }

// build builds farpipe (unless given) and the thumbnailer into the work
// directory.
func build(cfg config) (binaries, error) {
	bin := filepath.Join(cfg.dir, "bin")
	b := binaries{farpipe: cfg.farpipe, thumbnail: filepath.Join(bin, "thumbnail")}
	root, err := moduleRoot()
	if err != nil {
		return b, err
	}
	pkgs := [][2]string{{"./examples/thumbnails/thumbnail", b.thumbnail}}
	if b.farpipe == "" {
		b.farpipe = filepath.Join(bin, "farpipe")
		pkgs = append(pkgs, [2]string{"./cmd/farpipe", b.farpipe})
	}
	for _, p := range pkgs {
		step("go build -o %s %s", p[1], p[0])
		cmd := exec.Command("go", "build", "-o", p[1], p[0])
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stdout, os.Stderr
		// Without cgo, as CI's cross-platform builds: the build cache serves both.
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
		return "", errors.New("run it from inside the farpipe repository: go run ./examples/thumbnails")
	}
	return filepath.Dir(mod), nil
}

// process is a started command whose end is awaited once.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM and waits (SIGKILL after 10 s).
func (p *process) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

type relayProc struct {
	*process
	url string
}

// startRelay starts "farpipe relay" on a free loopback port and waits for
// its ready line.
func startRelay(farpipe, store, logFile string) (*relayProc, error) {
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(farpipe, "relay", "--listen", "127.0.0.1:0", "--store", store)
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(log, pw)
	p, err := startProcess(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting the relay: %w", err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "relay ready: use "); ok {
				found <- strings.Fields(rest)[0]
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case url := <-found:
		return &relayProc{process: p, url: url}, nil
	case <-p.done:
		pw.Close()
		return nil, fmt.Errorf("the relay exited: %v (see %s)", p.err, logFile)
	case <-time.After(30 * time.Second):
		p.stop()
		pw.Close()
		return nil, fmt.Errorf("the relay did not get ready in 30 s (see %s)", logFile)
	}
}

// pool runs one map through two workers on a queue and checks its output;
// with kill, worker B is killed with SIGKILL a third of the way through.
func pool(cfg config, bins binaries, relayURL, queue, out string, originals map[string]imageInfo, kill bool) (time.Duration, error) {
	addr := relayURL + "/" + queue
	if kill {
		step("two workers on %s, one slot each; map with worker B killed -9 a third of the way", addr)
	} else {
		step("the same without faults (for the rate), into %s", out)
	}
	workers := map[string]*process{}
	for _, name := range []string{"A", "B"} {
		logFile := filepath.Join(cfg.dir, queue+"-worker-"+name+".log")
		log, err := os.Create(logFile)
		if err != nil {
			return 0, err
		}
		cmd := exec.Command(bins.farpipe, "worker", "-j", "1", "--ack-wait", "3s", addr, "--",
			bins.thumbnail, "--size", strconv.Itoa(cfg.size), "--out", out)
		cmd.Stdout, cmd.Stderr = log, log
		p, err := startProcess(cmd)
		log.Close()
		if err != nil {
			return 0, fmt.Errorf("starting worker %s: %w", name, err)
		}
		defer p.stop()
		workers[name] = p
		if kill {
			fmt.Printf("    worker %s: pid %d, log %s\n", name, cmd.Process.Pid, logFile)
		}
	}

	script := fmt.Sprintf("find %s -type f -print0 | %s map -0 --records 4 --via %s",
		shellQuote(filepath.Join(cfg.dir, "images")), shellQuote(bins.farpipe), shellQuote(addr))
	fmt.Printf("    $ %s\n", strings.ReplaceAll(script, cfg.dir, "$DIR"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if kill && len(lines) == len(originals)/3 {
			b := workers["B"]
			// Kill B while it runs a chunk (between two chunks, nothing
			// would be redelivered), waiting at most a few seconds for one.
			running := children(b.cmd.Process.Pid)
			for deadline := time.Now().Add(5 * time.Second); running == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
				running = children(b.cmd.Process.Pid)
			}
			b.cmd.Process.Kill()
			<-b.done
			fmt.Printf("    %d of %d thumbnails out: killed worker B (-9) while it ran %d thumbnail command(s)\n",
				len(lines), len(originals), running)
		}
	}
	err = cmd.Wait()
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("map: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	fmt.Printf("    map exited 0 after %s with %d lines\n", took.Round(10*time.Millisecond), len(lines))
	if err := check(lines, out, originals, cfg.size); err != nil {
		return took, err
	}
	fmt.Printf("    checked: %d images, each once in the output, each thumbnail valid and at most %d pixels a side\n", len(originals), cfg.size)
	return took, nil
}

// localRun times GNU parallel (or xargs -P when parallel is missing)
// running the same thumbnailer on this host, two at a time, four images a
// run, as the workers do.
func localRun(cfg config, bins binaries, imgDir, out string) (time.Duration, string, error) {
	tool, args := "parallel -0 -j 2 -n 4", []string{"parallel", "-0", "-j", "2", "-n", "4"}
	if _, err := exec.LookPath("parallel"); err != nil {
		tool, args = "xargs -0 -P 2 -n 4", []string{"xargs", "-0", "-P", "2", "-n", "4"}
		fmt.Println("    (GNU parallel is not installed: xargs -P stands in; apt-get install parallel for the real one)")
	}
	step("the same thumbnailer locally: find | %s thumbnail", tool)
	script := fmt.Sprintf("find %s -type f -print0 | %s %s --size %d --out %s", shellQuote(imgDir),
		strings.Join(args, " "), shellQuote(bins.thumbnail), cfg.size, shellQuote(out))
	cmd := exec.Command("sh", "-c", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	outBytes, err := cmd.Output()
	took := time.Since(start)
	if err != nil {
		return took, tool, fmt.Errorf("%s: %v: %s", tool, err, strings.TrimSpace(stderr.String()))
	}
	fmt.Printf("    %s: %s, %d lines\n", tool, took.Round(10*time.Millisecond), bytes.Count(outBytes, []byte("\n")))
	return took, tool, nil
}

// children counts the processes whose parent is pid (Linux; 0 elsewhere).
func children(pid int) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so count from its end.
		i := bytes.LastIndexByte(stat, ')')
		if f := strings.Fields(string(stat[i+1:])); i >= 0 && len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n++
		}
	}
	return n
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
