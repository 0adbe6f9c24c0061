//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
)

// config is what the flags ask for.
type config struct {
	size    int64         // bytes per transfer
	runs    int           // transfers of each tool with each data set
	peers   []string      // names of the tools to measure
	data    []string      // data sets: zeros, random
	install bool          // apt-get install missing peers first
	chart   string        // where to write the PNG; "" for none
	timeout time.Duration // longest a single transfer may take
	tmpfs   string        // where the random data lives
	rounds  int           // rounds of the round-trip comparison; 0: none

	part     string // transfer (the default), map or relay
	mapSize  int64  // map part: bytes of the file of lines
	tinyJobs int    // map part: jobs of the tiny-job lines

	relayPipes    int   // relay part: pipes of the memory test
	relayLoadSize int64 // relay part: bytes through each of them
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		switch cfg.part {
		case "map":
			err = runMapPart(ctx, cfg)
		case "relay":
			err = runRelayPart(ctx, cfg)
		case "transports":
			err = runTransportsPart(ctx, cfg)
		case "streams":
			err = runStreamsPart(ctx, cfg)
		case "compress":
			err = runCompressPart(ctx, cfg)
		default:
			err = run(ctx, cfg)
		}
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	size := fs.String("size", "2GiB", "bytes moved by each transfer (e.g. 512MiB, 4GiB)")
	runs := fs.Int("runs", 3, "transfers of each tool with each data set")
	peers := fs.String("peers", "all", "comma-separated tools to measure, from: "+strings.Join(peerNames, ","))
	data := fs.String("data", "zeros,random", "comma-separated data sets: zeros, random")
	install := fs.Bool("install", false, "apt-get install what is missing of mbuffer, socat, netcat-openbsd, openssh-server and time first; needs root")
	chart := fs.String("chart", "", "where to write the chart (default docs/performance.png in the repository; \"none\" for no chart)")
	timeout := fs.Duration("timeout", 2*time.Minute, "longest a single transfer may take")
	tmpfs := fs.String("tmpfs", "/dev/shm", "a tmpfs directory for the random data")
	rounds := fs.Int("latency-rounds", 11, "rounds of 1000 round trips comparing farpipe with raw TCP (0: skip)")
	part := fs.String("part", "transfer", "what to measure: transfer (send/recv against its peers), map (farpipe map against GNU parallel, xargs and pipelines), relay (pipes through a NATS relay against a nats.go copier and croc; defaults to --size 1GiB --data random), transports (farpipe over each transport against tcp; defaults to --size 512MiB --data random), streams (pub/sub and map --via on a relay's JetStream against a nats.go JetStream copier and local map; defaults to --size 1GiB) or compress (send --compress zstd against none, text logs and random data, direct and through a 50 MB/s link; defaults to --size 256MiB)")
	relayPipes := fs.Int("relay-pipes", 10, "relay part: pipes through the relay at once in the memory test, half of them read at 20 MB/s (0: skip)")
	relayLoadSize := fs.String("relay-load-size", "1GiB", "relay part: bytes through each pipe of the memory test")
	mapSize := fs.String("map-size", "1GiB", "map part: size of the file of ~100-byte lines")
	tinyJobs := fs.Int("tiny-jobs", 20000, "map part: jobs of the tiny-job lines (GNU parallel runs a tenth)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./bench [flags]\n\nMeasures farpipe's throughput on loopback against gocopy (the ceiling) and its peers, and its round trip against raw TCP.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("farpipe bench: unexpected argument %q: see go run ./bench --help", fs.Arg(0))
	}
	n, err := humanize.ParseBytes(*size)
	if err != nil || n < 1<<20 {
		return nil, fmt.Errorf("farpipe bench: --size %q: give at least 1MiB, for example 2GiB", *size)
	}
	if *runs < 1 {
		return nil, fmt.Errorf("farpipe bench: --runs %d: give at least 1", *runs)
	}
	if *rounds < 0 {
		return nil, fmt.Errorf("farpipe bench: --latency-rounds %d: give 0 or more", *rounds)
	}
	cfg := &config{size: int64(n), runs: *runs, install: *install, chart: *chart, timeout: *timeout, tmpfs: *tmpfs, rounds: *rounds,
		part: *part, tinyJobs: *tinyJobs}
	if !slices.Contains([]string{"transfer", "map", "relay", "transports", "streams", "compress"}, cfg.part) {
		return nil, fmt.Errorf("farpipe bench: --part %q: choose transfer, map, relay, transports, streams or compress", cfg.part)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.part == "streams" && !set["size"] {
		cfg.size = 1 << 30
	}
	if cfg.part == "compress" && !set["size"] {
		cfg.size = 256 << 20
	}
	if cfg.part == "relay" {
		if err := relayDefaults(cfg, set, *data, *relayPipes, *relayLoadSize); err != nil {
			return nil, err
		}
		if cfg.peers, err = parseList("--peers", *peers, relayPeerNames); err != nil {
			return nil, err
		}
		return cfg, nil
	}
	if cfg.part == "transports" {
		transportDefaults(cfg, set)
		if cfg.peers, err = parseList("--peers", *peers, transportNames()); err != nil {
			return nil, err
		}
		if set["data"] {
			if cfg.data, err = parseList("--data", *data, []string{"zeros", "random"}); err != nil {
				return nil, err
			}
		}
		return cfg, nil
	}
	ms, err := humanize.ParseBytes(*mapSize)
	if err != nil || ms < 1<<20 || *tinyJobs < 10 {
		return nil, fmt.Errorf("farpipe bench: --map-size %q, --tiny-jobs %d: give at least 1MiB and 10 jobs", *mapSize, *tinyJobs)
	}
	cfg.mapSize = int64(ms)
	if cfg.peers, err = parseList("--peers", *peers, peerNames); err != nil {
		return nil, err
	}
	if cfg.data, err = parseList("--data", *data, []string{"zeros", "random"}); err != nil {
		return nil, err
	}
	return cfg, nil
}

// relayDefaults sets what the relay part measures: 1 GiB of random data
// unless --size or --data say otherwise (one data set: croc sends the
// same bytes from a file), and the memory test's pipes.
func relayDefaults(cfg *config, set map[string]bool, data string, pipes int, loadSize string) error {
	if !set["size"] {
		cfg.size = 1 << 30
	}
	cfg.data = []string{"random"}
	if set["data"] {
		var err error
		if cfg.data, err = parseList("--data", data, []string{"zeros", "random"}); err != nil {
			return err
		}
		if len(cfg.data) != 1 {
			return fmt.Errorf("farpipe bench: -part relay --data %q: give one data set, zeros or random", data)
		}
	}
	n, err := humanize.ParseBytes(loadSize)
	if err != nil || n < 1<<20 || pipes < 0 {
		return fmt.Errorf("farpipe bench: --relay-pipes %d, --relay-load-size %q: give 0 or more pipes of at least 1MiB", pipes, loadSize)
	}
	cfg.relayPipes, cfg.relayLoadSize = pipes, int64(n)
	return nil
}

// parseList splits a comma-separated flag value and checks each item is
// one of known; "all" means every one, in the order of known.
func parseList(flagName, value string, known []string) ([]string, error) {
	if value == "all" {
		return known, nil
	}
	var out []string
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		if !slices.Contains(known, item) {
			return nil, fmt.Errorf("farpipe bench: %s: unknown %q: choose from %s", flagName, item, strings.Join(known, ","))
		}
		if !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out, nil
}

// run builds the tools, measures them and reports.
func run(ctx context.Context, cfg *config) error {
	began := time.Now()
	root, err := repoRoot(ctx)
	if err != nil {
		return err
	}
	if cfg.chart == "" {
		cfg.chart = filepath.Join(root, "docs", "performance.png")
	}
	if cfg.install {
		if err := installPeers(ctx); err != nil {
			return err
		}
	}
	h, err := newHarness(ctx, cfg, root)
	if err != nil {
		return err
	}
	defer h.close()
	h.choosePeers(ctx)
	if err := h.makeData(); err != nil {
		return err
	}
	h.smokeTest(ctx)
	if len(h.peers) == 0 {
		return errors.New("farpipe bench: no tool left to measure: " + strings.Join(h.notes, "; "))
	}
	res := h.measure(ctx)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("farpipe bench: interrupted: %v", err)
	}
	if cfg.rounds > 0 {
		res.latency = measureLatency(cfg.rounds)
	}

	fmt.Println()
	res.writeReport(os.Stdout, h.notes)
	if cfg.chart != "none" {
		if err := res.writeChart(cfg.chart); err != nil {
			return err
		}
		fmt.Printf("\nchart: %s\n", cfg.chart)
	}
	fmt.Printf("harness run time: %s\n", time.Since(began).Round(time.Second))
	return nil
}
