package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/farpipe/farpipe/examples/internal/exrun"
)

const stream = "logs"

// lab is everything one run started, so that it all ends however the run
// ends.
type lab struct {
	cfg   config
	bins  binaries
	net   *network
	relay *exrun.Relay
	url   string // nats://ADDR:PORT/logs
	procs []*exrun.Process
}

func (l *lab) path(name string) string { return filepath.Join(l.cfg.dir, name) }

// start starts cmd with stdout to out (a file name, or "" for its log)
// and stderr to its log file.
func (l *lab) start(name string, cmd *exec.Cmd, out string) (*exrun.Process, error) {
	log, err := exrun.LogTo(l.path(name + ".stderr"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd.Stderr = log
	if cmd.Stdout == nil {
		cmd.Stdout = log
		if out != "" {
			f, err := exrun.LogTo(out)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			cmd.Stdout = f
		}
	}
	p, err := exrun.Start(name, cmd)
	if err != nil {
		return nil, err
	}
	l.procs = append(l.procs, p)
	return p, nil
}

// pipeline starts a | b, b's output to out.
func (l *lab) pipeline(nameA string, a *exec.Cmd, nameB string, b *exec.Cmd, out string) (*exrun.Process, *exrun.Process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	defer w.Close()
	a.Stdout, b.Stdin = w, r
	pb, err := l.start(nameB, b, out)
	if err != nil {
		return nil, nil, err
	}
	pa, err := l.start(nameA, a, "")
	return pa, pb, err
}

// cleanup ends every process still running and removes the network.
func (l *lab) cleanup() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		if p := l.procs[i]; !p.Exited() {
			p.Kill()
		}
	}
	if l.relay != nil && !l.relay.Exited() {
		l.relay.Kill()
	}
	l.net.remove()
}

func (l *lab) farpipe(args ...string) *exec.Cmd { return exec.Command(l.bins.farpipe, args...) }

func run(ctx context.Context, cfg config) (err error) {
	l := &lab{cfg: cfg}
	if l.bins, err = build(cfg); err != nil {
		return err
	}
	var how string
	l.net, how = newNetwork(cfg.hosts, cfg.plain)
	defer l.cleanup()
	exrun.Step("hosts: %s", how)

	exrun.Step("starting a relay with its live page")
	store := l.path("relay-store")
	l.relay, err = exrun.StartRelay(l.bins.farpipe, l.path("relay.stderr"), "--listen", net.JoinHostPort(l.net.relayAddr, "0"), "--http", "127.0.0.1:0", "--store", store)
	if err != nil {
		return err
	}
	u, err := url.Parse(l.relay.URL)
	if err != nil || l.relay.Page == "" {
		return fmt.Errorf("the relay's ready line named %q and page %q", l.relay.URL, l.relay.Page)
	}
	listen, page := u.Host, l.relay.Page
	pageHost := strings.TrimPrefix(page, "http://")
	l.url = "nats://" + listen + "/" + stream
	note("$ farpipe relay --listen %s --http 127.0.0.1:0 --store $DIR/relay-store", net.JoinHostPort(l.net.relayAddr, "0"))
	note("ready: %s, page at %s", l.relay.URL, page)

	// The stream exists before its subscribers start (sub never makes one).
	if out, err := l.farpipe("pub", l.url).CombinedOutput(); err != nil {
		return fmt.Errorf("making the stream: farpipe pub %s < /dev/null: %v: %s", l.url, err, out)
	}

	wctx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopWatch(); wg.Wait() }()
	w := &watcher{url: page + "/snapshot", stream: stream}
	merged, errs := newTail(l.path("merged.log"), true), newTail(l.path("errors.log"), false)
	for _, f := range []func(context.Context){w.run, merged.run, errs.run} {
		wg.Add(1)
		go func() { defer wg.Done(); f(wctx) }()
	}

	exrun.Step("consumers")
	sinks, err := l.consumers(ctx)
	if err != nil {
		return err
	}

	exrun.Step("three hosts, each: applog --host hN --rate %g --out hN.log & tail -F hN.log | farpipe pub --id hN %s", cfg.rate, l.url)
	hosts, err := l.hosts()
	if err != nil {
		return err
	}
	begin := time.Now()
	until := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(time.Until(begin.Add(d))):
			return nil
		}
	}

	if err := until(cfg.subAt - time.Second); err != nil {
		return err
	}
	w.show("before the faults")
	if err := until(cfg.subAt); err != nil {
		return err
	}
	exrun.Step("fault 1: the merged file's sub (--durable merged) killed with SIGKILL at %.1f s, for 5 s", time.Since(begin).Seconds())
	sinks.merged.Kill()
	merged.poll()
	note("merged.log holds %d lines", merged.count())
	if err := until(cfg.subAt + 5*time.Second); err != nil {
		return err
	}
	if sinks.merged, err = l.start("sub-merged", l.mergedSub(), l.path("merged.log")); err != nil {
		return err
	}
	note("restarted with the same --durable at %.1f s, appending to merged.log", time.Since(begin).Seconds())

	if err := until(cfg.relayAt); err != nil {
		return err
	}
	exrun.Step("fault 2: the relay killed with SIGKILL at %.1f s, for 3 s", time.Since(begin).Seconds())
	l.relay.Kill()
	merged.poll()
	note("relay down; merged.log holds %d lines", merged.count())
	if err := until(cfg.relayAt + 3*time.Second); err != nil {
		return err
	}
	l.relay, err = exrun.StartRelay(l.bins.farpipe, l.path("relay.stderr"), "--listen", listen, "--http", pageHost, "--store", store)
	if err != nil {
		return fmt.Errorf("restarting the relay: %w", err)
	}
	merged.poll()
	note("relay restarted on %s (same store) at %.1f s; merged.log holds %d lines", listen, time.Since(begin).Seconds(), merged.count())
	if err := until(cfg.relayAt + 5*time.Second); err != nil {
		return err
	}
	merged.poll()
	note("2 s later merged.log holds %d lines", merged.count())
	w.show("2 s after the relay came back")

	if err := until(cfg.duration); err != nil {
		return err
	}
	return l.finish(ctx, begin, hosts, sinks, w, merged, errs)
}

type sinkProcs struct {
	merged, errSub, errGrep, kafkaSub, kafkaPub *exrun.Process
	kafkaURL                                    string
	kafkaNote                                   string
	kfake                                       *kfake.Cluster
}

func (l *lab) mergedSub() *exec.Cmd {
	return l.farpipe("sub", "-v", "--durable", "merged", "--follow", "--label", l.url)
}

// consumers starts the merged file's sub, the ERROR split and the Kafka
// bridge.
func (l *lab) consumers(ctx context.Context) (*sinkProcs, error) {
	s := &sinkProcs{}
	var err error
	note("$ farpipe sub --durable merged --follow --label %s >> merged.log", l.url)
	if s.merged, err = l.start("sub-merged", l.mergedSub(), l.path("merged.log")); err != nil {
		return nil, err
	}
	note("$ farpipe sub --durable errors --follow %s | grep --line-buffered ' ERROR ' > errors.log", l.url)
	s.errSub, s.errGrep, err = l.pipeline("sub-errors", l.farpipe("sub", "-v", "--durable", "errors", "--follow", l.url),
		"grep-errors", exec.Command("grep", "--line-buffered", " ERROR "), l.path("errors.log"))
	if err != nil {
		return nil, err
	}
	help, _ := l.farpipe("pub", "--help").CombinedOutput()
	if !strings.Contains(string(help), "kafka://") {
		s.kafkaNote = "skipped: this farpipe has no kafka:// streams yet (farpipe pub --help names none)"
		note("Kafka sink %s", s.kafkaNote)
	} else {
		broker, topic := l.cfg.kafka, "farpipe-logship-"+strconv.FormatInt(time.Now().Unix(), 10)
		if broker == "" {
			s.kfake, err = kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				return nil, fmt.Errorf("starting an in-process Kafka (kfake): %w", err)
			}
			broker, topic = s.kfake.ListenAddrs()[0], stream
			s.kafkaNote = "kfake, in this process, at " + broker
		} else {
			s.kafkaNote = "the broker at " + broker
		}
		s.kafkaURL = "kafka://" + broker + "/" + topic
		note("$ farpipe sub --durable kafka --follow %s | farpipe pub --id logship %s    (%s)", l.url, s.kafkaURL, s.kafkaNote)
		s.kafkaSub, s.kafkaPub, err = l.pipeline("sub-kafka", l.farpipe("sub", "-v", "--durable", "kafka", "--follow", l.url),
			"pub-kafka", l.farpipe("pub", "-v", "--id", "logship", s.kafkaURL), "")
		if err != nil {
			return nil, err
		}
	}
	note("the live page: GET %s/snapshot every 500 ms", l.relay.Page)
	return s, nil
}

type host struct {
	name, log      string
	app, tail, pub *exrun.Process
}

// hosts starts each host's writer and its tail -F | farpipe pub.
func (l *lab) hosts() ([]*host, error) {
	var hs []*host
	for i := range l.cfg.hosts {
		h := &host{name: "h" + strconv.Itoa(i+1)}
		h.log = l.path(h.name + ".log")
		if err := os.WriteFile(h.log, nil, 0o644); err != nil {
			return nil, err
		}
		var err error
		if h.app, err = l.start("applog-"+h.name, l.net.command(i, l.bins.applog, "--host", h.name,
			"--rate", strconv.FormatFloat(l.cfg.rate, 'g', -1, 64), "--out", h.log), ""); err != nil {
			return nil, err
		}
		h.tail, h.pub, err = l.pipeline("tail-"+h.name, l.net.command(i, "tail", "-n", "+1", "-F", h.log),
			"pub-"+h.name, l.net.command(i, l.bins.farpipe, "pub", "-v", "--id", h.name, l.url), "")
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, nil
}

var errFailed = errors.New("a check failed")
