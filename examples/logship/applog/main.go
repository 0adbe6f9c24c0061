// Command applog is the application of the logship example: it writes a
// log to a file at a steady rate, one line per event,
//
//	2026-11-30T05:00:00.123456Z h1 seq=42 WARN slow query table=orders ms=812
//
// with the host's name, a sequence number that counts from 1 without a
// gap, and a level (INFO, WARN or ERROR), so that whoever receives the
// lines can tell a lost one or a duplicate. It stops at SIGTERM or SIGINT
// after a whole line and exits 0, saying on stderr how many it wrote.
//
//	applog --host h1 --rate 200 --out /var/log/app.log
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	host := flag.String("host", "", "the host's name, written in every line")
	rate := flag.Float64("rate", 100, "lines a second")
	out := flag.String("out", "", "the log file (appended to)")
	flag.Parse()
	if *host == "" || *out == "" || *rate <= 0 || *rate > 1e6 {
		fmt.Fprintln(os.Stderr, "applog: give --host NAME, --out FILE and a --rate from 0 to 1e6")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	n, err := run(ctx, *host, *rate, *out)
	fmt.Fprintf(os.Stderr, "applog: %s: %d lines\n", *host, n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "applog:", err)
		os.Exit(1)
	}
}

// run writes lines until ctx ends, a tick's worth at a time (one write).
func run(ctx context.Context, host string, rate float64, out string) (uint64, error) {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := fnv.New64a()
	h.Write([]byte(host))
	rng := rand.New(rand.NewPCG(h.Sum64(), 1))
	w := bufio.NewWriterSize(f, 64<<10)
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	var seq uint64
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return seq, f.Sync()
		case now := <-t.C:
			due := uint64(now.Sub(start).Seconds() * rate)
			for seq < due {
				seq++
				line(w, rng, host, seq, now)
			}
			if err := w.Flush(); err != nil {
				return seq, err
			}
		}
	}
}

var (
	info  = []string{"request served path=/api/orders status=200", "cache hit key=user:%d", "job done queue=mail", "login ok user=u%d"}
	warn  = []string{"slow query table=orders ms=%d", "retrying upstream=payments attempt=2", "disk 81 percent full"}
	fatal = []string{"payment declined order=%d", "upstream timeout service=stock after=5s", "panic recovered in handler /api/cart"}
)

// line writes one line; about 80% INFO, 15% WARN, 5% ERROR.
func line(w *bufio.Writer, rng *rand.Rand, host string, seq uint64, now time.Time) {
	level, msgs := "INFO", info
	switch p := rng.IntN(100); {
	case p < 5:
		level, msgs = "ERROR", fatal
	case p < 20:
		level, msgs = "WARN", warn
	}
	msg := msgs[rng.IntN(len(msgs))]
	fmt.Fprintf(w, "%s %s seq=%d %s ", now.UTC().Format("2006-01-02T15:04:05.000000Z"), host, seq, level)
	if strings.Contains(msg, "%d") {
		msg = fmt.Sprintf(msg, rng.IntN(10000))
	}
	w.WriteString(msg)
	w.WriteByte('\n')
}
