// Command logship is farpipe's log collection and distribution example.
// It starts a relay and three hosts (network namespaces on a bridge when
// run as root with iproute2, plain processes otherwise). Each host writes
// an application log with its own sequence numbers and ships it:
//
//	applog --host h1 --out h1.log &
//	tail -F h1.log | farpipe pub --id h1 nats://RELAY/logs
//
// Four consumers read the stream:
//
//	farpipe sub --durable merged --follow --label nats://RELAY/logs >> merged.log
//	farpipe sub --durable errors --follow nats://RELAY/logs | grep --line-buffered ' ERROR ' > errors.log
//	farpipe sub --durable kafka --follow nats://RELAY/logs | farpipe pub --id logship kafka://BROKER/logs
//	the relay's live page (relay --http): GET /snapshot, the stream's records rising
//
// In the middle it kills the merged file's sub with SIGKILL for 5 s
// (restarted with the same --durable name), then the relay for 3 s
// (restarted on the same port and store). At the end it stops the writers, waits until
// every sink has every line, checks that each line of each host arrived
// exactly once in every sink, and prints a summary. It exits 0 only if
// every check holds; on failure it keeps its directory, with every log.
//
//	go run ./examples/logship           # 45 s, 300 lines/s a host
//	go run ./examples/logship -short    # 16 s, 100 lines/s a host (CI runs this)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type config struct {
	hosts    int
	rate     float64       // lines a second, per host
	duration time.Duration // how long the hosts write
	relayAt  time.Duration // when the relay is killed (for 3 s)
	subAt    time.Duration // when the merged file's sub is killed (for 5 s)
	dir      string
	farpipe  string // the farpipe binary; built when empty
	kafka    string // a Kafka broker to use instead of the in-process one
	plain    bool   // no network namespaces
}

func main() {
	short := flag.Bool("short", false, "a quick run: 16 s of 100 lines/s a host (CI runs this)")
	duration := flag.Duration("duration", 45*time.Second, "how long the hosts write")
	rate := flag.Float64("rate", 300, "lines a second that each host writes")
	dir := flag.String("dir", "", "work in this directory and keep it (default: a temporary one, removed at the end)")
	bin := flag.String("farpipe", "", "the farpipe binary to use (default: built from this repository)")
	kafka := flag.String("kafka", "", "a Kafka broker (HOST:PORT) for the Kafka sink (default: one in this process, kfake)")
	plain := flag.Bool("plain", false, "run the hosts as plain processes, even as root")
	flag.Parse()
	cfg := config{hosts: 3, rate: *rate, duration: *duration, dir: *dir, farpipe: *bin, kafka: *kafka, plain: *plain}
	if *short {
		cfg.rate, cfg.duration = 100, 16*time.Second
	}
	if cfg.duration < 14*time.Second || cfg.rate <= 0 {
		fmt.Fprintln(os.Stderr, "logship: give a --duration of at least 14s (the faults take that) and a positive --rate")
		os.Exit(2)
	}
	// The sub goes away early, the relay a little after the sub is back
	// (the other order is a limit of farpipe's: see README.md).
	cfg.subAt, cfg.relayAt = cfg.duration/5, cfg.duration/5+5*time.Second+cfg.duration/30
	keep := cfg.dir != ""
	if cfg.dir == "" {
		d, err := os.MkdirTemp("", "farpipe-logship-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "logship:", err)
			os.Exit(1)
		}
		cfg.dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	start := time.Now()
	err := run(ctx, cfg)
	stop()
	fmt.Printf("\n(%s in all)\n", time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, "logship: FAILED:", err)
		fmt.Fprintln(os.Stderr, "logship: everything is kept in", cfg.dir)
		os.Exit(1)
	}
	if !keep {
		os.RemoveAll(cfg.dir)
	}
}

func note(format string, args ...any) {
	fmt.Printf("    "+format+"\n", args...)
}
