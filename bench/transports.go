//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/farpipe/farpipe/internal/testpki"
)

// The transports part (go run ./bench -part transports) measures
// farpipe send | recv over each transport on loopback, TLS and token as
// always, in the same interleaved rounds, and compares each with tcp.

// transportLines are the lines of the transports part, in the order of
// the report; the first is the one the others are compared with. listen
// and dial are the addresses of recv --listen and of send, with %d for a
// free port. A new transport is one line here. A line with pki gets a
// certificate the harness makes for the run: the listener's as
// ?cert=FILE&key=FILE, its CA as the dialer's ?ca=FILE.
var transportLines = []struct {
	name, listen, dial string
	pki                bool
}{
	{"tcp", "127.0.0.1:%d", "127.0.0.1:%d", false},
	{"grpc", "grpc://127.0.0.1:%d", "grpc://127.0.0.1:%d", false},
	{"quic", "quic://127.0.0.1:%d", "quic://127.0.0.1:%d", false},
	{"ws", "ws://127.0.0.1:%d/farpipe/bench", "ws://127.0.0.1:%d/farpipe/bench", false},
	{"wss", "wss://127.0.0.1:%d/farpipe/bench", "wss://127.0.0.1:%d/farpipe/bench", true},
}

// transportNames are the names --peers chooses from in the transports
// part.
func transportNames() []string {
	var names []string
	for _, l := range transportLines {
		names = append(names, l.name)
	}
	return names
}

// transportDefaults sets what the transports part measures unless the
// flags say otherwise: 512 MiB of random data (quicker than the transfer
// part's 2 GiB: some transports move a few hundred MB/s).
func transportDefaults(cfg *config, set map[string]bool) {
	if !set["size"] {
		cfg.size = 512 << 20
	}
	if !set["data"] {
		cfg.data = []string{"random"}
	}
}

// runTransportsPart builds farpipe, measures every line and reports.
func runTransportsPart(ctx context.Context, cfg *config) error {
	began := time.Now()
	root, err := repoRoot(ctx)
	if err != nil {
		return err
	}
	h, err := newHarness(ctx, cfg, root)
	if err != nil {
		return err
	}
	defer h.close()
	if h.haveTime = missing([]string{timeBin}) == ""; !h.haveTime {
		h.note("%s is not installed: no CPU or memory figures (apt-get install time, or go run ./bench --install)", timeBin)
	}
	for _, p := range h.transportCatalog(h.tmp) {
		if containsName(cfg.peers, p.name) {
			h.peers = append(h.peers, p)
		}
	}
	if err := h.makeData(); err != nil {
		return err
	}
	h.smokeTest(ctx)
	if len(h.peers) == 0 {
		return errors.New("farpipe bench: no transport left to measure: " + strings.Join(h.notes, "; "))
	}
	res := h.measure(ctx)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("farpipe bench: interrupted: %v", err)
	}
	fmt.Println()
	res.writeTransports(os.Stdout, h.notes)
	fmt.Printf("harness run time: %s\n", time.Since(began).Round(time.Second))
	return nil
}

// transportCatalog is a farpipe send/recv pair per line of transportLines.
// The certificates of the lines that want them are files in dir; a line
// whose certificate cannot be made is left out, with a note.
func (h *harness) transportCatalog(dir string) []*peer {
	token := []string{"FARPIPE_TOKEN=" + h.token}
	var peers []*peer
	var pki *testpki.PKI
	for _, l := range transportLines {
		listenQuery, dialQuery := "", ""
		if l.pki {
			if pki == nil {
				var err error
				if pki, err = testpki.Make(dir); err != nil {
					h.note("skipped farpipe over %s: making its certificate: %v", l.name, err)
					continue
				}
			}
			listenQuery = "?" + url.Values{"cert": {pki.ServerCert}, "key": {pki.ServerKey}}.Encode()
			dialQuery = "?" + url.Values{"ca": {pki.CAFile}}.Encode()
		}
		peers = append(peers, &peer{
			tool: tool{name: l.name, label: "farpipe over " + l.name, kind: encrypted, farpipe: true, usage: true},
			recv: func(port int) []string {
				return []string{h.farpipe, "recv", "--quiet", "--listen", fmt.Sprintf(l.listen, port) + listenQuery}
			},
			send: func(port int) []string {
				return []string{h.farpipe, "send", "--wait", "10s", fmt.Sprintf(l.dial, port) + dialQuery}
			},
			env: token,
		})
	}
	return peers
}

// writeTransports prints one table per data set: each transport's
// throughput, its ratio to the first line (tcp), CPU and memory.
func (r *results) writeTransports(w io.Writer, notes []string) {
	fmt.Fprintf(w, "farpipe bench -part transports: %s (%d bytes) per transfer, %s of each transport, interleaved; farpipe send | recv with TLS and token, both ends on this machine (loopback)\n",
		humanize.IBytes(uint64(r.size)), r.size, plural(r.runs, "run"))
	fmt.Fprintf(w, "farpipe %s built with %s; %d CPUs; load average %s before the transfers, %s after\n",
		r.rev, r.goVersion, r.cpus, r.loadBefore, r.load)
	for _, d := range r.data {
		fmt.Fprintf(w, "\n%s (%s)\n", d, dataDesc[d])
		fmt.Fprintf(w, "%-20s  %6s  %11s  %6s  %9s  %17s\n", "transport", "MB/s", "min–max", "× tcp", "CPU s/GiB", "RSS send/recv MiB")
		base := r.summary(r.tools[0].name, d).median
		for _, t := range r.tools {
			s := r.summary(t.name, d)
			fails := len(r.get(t.name, d).failed)
			if s.runs == 0 {
				fmt.Fprintf(w, "%-20s  %6s  (all %d runs failed)\n", t.label, "-", fails)
				continue
			}
			cpu, rss := "-", "-"
			if s.cpuPerGiB > 0 {
				cpu = fmt.Sprintf("%.2f", s.cpuPerGiB)
			}
			if s.sendRSS > 0 {
				rss = fmt.Sprintf("%s / %s", mib(s.sendRSS), mib(s.recvRSS))
			}
			line := fmt.Sprintf("%-20s  %6.0f  %11s  %6s  %9s  %17s", t.label, s.median*1000,
				fmt.Sprintf("%.0f–%.0f", s.min*1000, s.max*1000), ratio(s.median, base), cpu, rss)
			if fails > 0 {
				line += fmt.Sprintf("  (%d of %d runs failed)", fails, fails+s.runs)
			}
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintln(w, "\nMB/s: 10^6 bytes/s, median and min–max over the runs; × tcp: to farpipe over tcp in the same run; CPU: user+system seconds of both ends per GiB; RSS: highest peak of each end")
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
