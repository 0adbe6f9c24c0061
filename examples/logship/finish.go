package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/farpipe/farpipe/examples/internal/exrun"
)

// finish stops the writers, waits until every sink has every line, stops
// the rest, checks every sink and prints the summary.
func (l *lab) finish(ctx context.Context, begin time.Time, hosts []*host, s *sinkProcs, w *watcher, merged, errs *tail) error {
	exrun.Step("stopping the writers at %.1f s", time.Since(begin).Seconds())
	files := map[string]string{}
	for _, h := range hosts {
		if code := h.app.Stop(); code != 0 {
			return fmt.Errorf("applog %s exited %d (see %s)", h.name, code, l.path("applog-"+h.name+".stderr"))
		}
		files[h.name] = h.log
	}
	stopped := time.Now()
	src, err := readSource(files)
	if err != nil {
		return err
	}
	last := map[string]uint64{}
	for h, lines := range src {
		last[h] = uint64(len(lines))
		note("%s wrote %d lines", h, len(lines))
	}
	nAll, bytesAll := src.count(all)
	nErr, _ := src.count(errorsOnly)

	exrun.Step("waiting until every sink has every line (at most 60 s)")
	if err := merged.waitFor(ctx, nAll, last, 60*time.Second); err != nil {
		return err
	}
	note("merged.log complete %.2f s after the writers stopped", time.Since(stopped).Seconds())
	for _, h := range hosts { // tail has passed on every line: pub gets the end of its input
		h.tail.Stop()
	}
	for _, h := range hosts {
		if code := h.pub.Stop(); code != 0 {
			return fmt.Errorf("farpipe pub --id %s exited %d (see %s)", h.name, code, l.path("pub-"+h.name+".stderr"))
		}
	}
	note("each host's tail stopped; its farpipe pub exited 0 (every record stored)")
	if err := errs.waitFor(ctx, nErr, nil, 30*time.Second); err != nil {
		return err
	}
	note("errors.log complete %.2f s after the writers stopped", time.Since(stopped).Seconds())
	if s.kafkaSub != nil {
		if err := l.waitKafka(ctx, s.kafkaURL, nAll, last, 60*time.Second); err != nil {
			return err
		}
		s.kafkaSub.Stop()
		if code := s.kafkaPub.Stop(); code != 0 {
			return fmt.Errorf("farpipe pub %s exited %d (see %s)", s.kafkaURL, code, l.path("pub-kafka.stderr"))
		}
		note("the Kafka topic complete %.2f s after the writers stopped; the bridge stopped, its farpipe pub to Kafka exited 0", time.Since(stopped).Seconds())
	}
	for _, name := range []string{"merged", "errors"} {
		if err := w.caughtUp(ctx, name, 30*time.Second); err != nil {
			return err
		}
	}
	w.show("at the end, every subscriber caught up")
	s.merged.Stop()
	s.errSub.Stop()
	s.errGrep.Stop()

	exrun.Step("reading back")
	note("$ farpipe sub %s > stream.log    (the stream itself, from its start)", l.url)
	if out, err := l.farpipe("sub", "--label", l.url).Output(); err != nil {
		return fmt.Errorf("farpipe sub %s: %v", l.url, err)
	} else if err := os.WriteFile(l.path("stream.log"), out, 0o644); err != nil {
		return err
	}
	if s.kafkaURL != "" {
		note("$ farpipe sub %s > kafka.log", s.kafkaURL)
		if out, err := l.farpipe("sub", s.kafkaURL).Output(); err != nil {
			return fmt.Errorf("farpipe sub %s: %v", s.kafkaURL, err)
		} else if err := os.WriteFile(l.path("kafka.log"), out, 0o644); err != nil {
			return err
		}
		if s.kfake != nil {
			s.kfake.Close()
		}
	}

	exrun.Step("checks: every line of every host exactly once in every sink")
	type sinkCheck struct {
		name, file string
		labeled    bool
		keep       func(string) bool
	}
	checks := []sinkCheck{
		{"merged.log (durable sub, killed -9 and restarted)", "merged.log", true, all},
		{"errors.log (sub | grep ERROR)", "errors.log", false, errorsOnly},
	}
	if s.kafkaURL != "" {
		checks = append(checks, sinkCheck{"Kafka topic (" + s.kafkaURL + ")", "kafka.log", false, all})
	}
	checks = append(checks, sinkCheck{"the stream itself (sub from the start)", "stream.log", true, all})
	failed := 0
	for _, c := range checks {
		lines, err := readLines(l.path(c.file))
		if err != nil {
			return err
		}
		v := check(src, lines, c.labeled, c.keep)
		note("%-52s %s", c.name+":", v)
		if !v.ok() {
			failed++
		}
	}
	if s.kafkaURL == "" {
		note("%-52s %s", "Kafka topic:", s.kafkaNote)
	}
	rises, samples, fails := w.rising()
	pageOK := rises >= 3
	verdict := "PASS"
	if !pageOK {
		verdict = "FAIL"
		failed++
	}
	note("%-52s %d samples, the stream's count rose in %d of them, %d fetches failed (the relay away): %s",
		"live page (/snapshot):", samples, rises, fails, verdict)

	exrun.Step("summary")
	p50, p99, top := merged.latency()
	note("lines:     %d from %d hosts (%d ERROR), %.1f KiB", nAll, len(hosts), nErr, float64(bytesAll)/1024)
	note("lag:       writer to merged.log p50 %v, p99 %v, max %v (50 ms polls; the max spans the sub's 5 s away); page's largest subscriber lag %d messages",
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), top.Round(time.Millisecond), w.maxLag)
	note("resumes:   the relay once (SIGKILL, 3 s away): %d publishers and %d subscribers went on; the merged sub once (SIGKILL, 5 s away) from its durable place",
		len(hosts), 2+boolInt(s.kafkaSub != nil))
	for _, name := range []string{"pub-h1", "sub-merged", "sub-errors", "sub-kafka"} {
		if line := statsLine(l.path(name + ".stderr")); line != "" {
			note("           %s: %s", name, line)
		}
	}
	note("time:      %.1f s of writing, every sink complete %.2f s after the writers stopped", l.cfg.duration.Seconds(), stopped.Sub(begin).Seconds()-l.cfg.duration.Seconds()+time.Since(stopped).Seconds())
	if failed > 0 {
		return fmt.Errorf("%d check(s) failed: %w", failed, errFailed)
	}
	note("every check holds: PASS")
	return nil
}

// waitKafka reads the Kafka topic (farpipe sub, to its end) every 500 ms
// until it holds n lines and each host's last.
func (l *lab) waitKafka(ctx context.Context, url string, n int, last map[string]uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := l.farpipe("sub", url).Output()
		if err == nil {
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			top := map[string]uint64{}
			for _, line := range lines {
				if host, seq, _, ok := parseLine(line); ok {
					top[host] = max(top[host], seq)
				}
			}
			done := len(lines) >= n
			for host, seq := range last {
				done = done && top[host] >= seq
			}
			if done {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the Kafka topic %s holds %d lines of %d after waiting %v", url, len(lines), n, timeout)
			}
		} else if time.Now().After(deadline) {
			return fmt.Errorf("farpipe sub %s: %v", url, err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// statsLine is the last line of pub -v's or sub -v's stderr that says what
// it did ("farpipe: pub: ..." or "farpipe: sub: ...").
func statsLine(file string) string {
	data, _ := os.ReadFile(file)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		for _, p := range []string{"farpipe: pub: ", "farpipe: sub: "} {
			if rest, ok := strings.CutPrefix(lines[i], p); ok {
				return rest
			}
		}
	}
	return ""
}
