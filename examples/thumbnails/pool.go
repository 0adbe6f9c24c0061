package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/farpipe/farpipe/examples/internal/exrun"
)

type binaries struct{ farpipe, thumbnail string }

// build builds farpipe (unless given) and the thumbnailer into the work
// directory.
func build(cfg config) (binaries, error) {
	bin := filepath.Join(cfg.dir, "bin")
	b := binaries{farpipe: cfg.farpipe, thumbnail: filepath.Join(bin, "thumbnail")}
	pkgs := [][2]string{{"./examples/thumbnails/thumbnail", b.thumbnail}}
	if b.farpipe == "" {
		b.farpipe = filepath.Join(bin, "farpipe")
		pkgs = append(pkgs, [2]string{"./cmd/farpipe", b.farpipe})
	}
	return b, exrun.Build(pkgs...)
}

// pool runs one map through two workers on a queue and checks its output;
// with kill, worker B is killed with SIGKILL a third of the way through.
func pool(cfg config, bins binaries, relayURL, queue, out string, originals map[string]imageInfo, kill bool) (time.Duration, error) {
	addr := relayURL + "/" + queue
	if kill {
		exrun.Step("two workers on %s, one slot each; map with worker B killed -9 a third of the way", addr)
	} else {
		exrun.Step("the same without faults (for the rate), into %s", out)
	}
	workers := map[string]*exrun.Process{}
	for _, name := range []string{"A", "B"} {
		logFile := filepath.Join(cfg.dir, queue+"-worker-"+name+".log")
		log, err := os.Create(logFile)
		if err != nil {
			return 0, err
		}
		cmd := exec.Command(bins.farpipe, "worker", "-j", "1", "--ack-wait", "3s", addr, "--",
			bins.thumbnail, "--size", strconv.Itoa(cfg.size), "--out", out)
		cmd.Stdout, cmd.Stderr = log, log
		p, err := exrun.Start("worker "+name, cmd)
		log.Close()
		if err != nil {
			return 0, err
		}
		defer p.Stop()
		workers[name] = p
		if kill {
			fmt.Printf("    worker %s: pid %d, log %s\n", name, p.Pid(), logFile)
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
			running := children(b.Pid())
			for deadline := time.Now().Add(5 * time.Second); running == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
				running = children(b.Pid())
			}
			b.Kill()
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
	exrun.Step("the same thumbnailer locally: find | %s thumbnail", tool)
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
