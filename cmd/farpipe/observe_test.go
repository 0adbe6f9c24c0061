package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestExecMetricsAndJSONLog: "exec --listen ADDR --metrics 127.0.0.1:0 -v
// --log-format json" says where its metrics are in a JSON event; after a
// pipe through it, the scraped counters hold the bytes it read and wrote;
// every line of its stderr is a JSON object, with the events of a pipe.
func TestExecMetricsAndJSONLog(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	cmd := command(t, "exec", "--listen", addr, "--metrics", "127.0.0.1:0", "-v", "--log-format", "json", "--", "cat")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) // if the test fails before its end
	type event struct {
		line string
		obj  map[string]any
		err  error
	}
	events := make(chan event, 64)
	go func() { // ends at exec's exit (EOF), before cmd.Wait returns
		defer close(events)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			e := event{line: sc.Text()}
			e.err = json.Unmarshal(sc.Bytes(), &e.obj)
			events <- e
		}
	}()
	var seen []event
	next := func(want string) event { // the next event named want
		t.Helper()
		for e := range events {
			seen = append(seen, e)
			if e.err != nil {
				t.Fatalf("stderr line is not JSON (%v): %q", e.err, e.line)
			}
			if e.obj["event"] == want {
				return e
			}
		}
		t.Fatalf("exec's stderr ended without a %q event", want)
		return event{}
	}
	url, _ := next("metrics").obj["url"].(string)
	next("listen")

	data := bytes.Repeat([]byte("metrics and logs\n"), 100_000)
	if r := connect(t, addr, bytes.NewReader(data)); r.code != 0 || !bytes.Equal(r.stdout, data) {
		t.Fatalf("connect: exit %d, %d bytes back of %d: %s", r.code, len(r.stdout), len(data), r.stderr)
	}
	next("connect")
	next("end") // the command's status: the pipe is over

	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping %q: %v", url, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("parsing the metrics page: %v", err)
	}
	n := float64(len(data))
	for name, want := range map[string][2]float64{ // at least, at most
		"farpipe_pipes_total":           {1, 1},
		"farpipe_pipe_read_bytes_total": {n, n},
		// The output, and the command's status on the control channel.
		"farpipe_pipe_written_bytes_total": {n + 1, n + 64},
		"farpipe_auth_failures_total":      {0, 0},
	} {
		f := fams[name]
		if f == nil || len(f.Metric) != 1 {
			t.Errorf("no metric %s", name)
			continue
		}
		m := f.Metric[0]
		if v := m.GetCounter().GetValue() + m.GetGauge().GetValue(); v < want[0] || v > want[1] {
			t.Errorf("%s = %v, want %v to %v", name, v, want[0], want[1])
		}
	}
	if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
		t.Error("the Go and process collectors are missing")
	}

	cmd.Process.Signal(syscall.SIGTERM)
	for e := range events {
		seen = append(seen, e)
		if e.err != nil {
			t.Errorf("stderr line is not JSON (%v): %q", e.err, e.line)
		}
	}
	cmd.Wait()
	for _, e := range seen {
		for _, k := range []string{"time", "level", "msg", "event", "command"} {
			if _, ok := e.obj[k]; !ok {
				t.Errorf("event without %q: %s", k, e.line)
			}
		}
	}
	if t.Failed() {
		var b strings.Builder
		for _, e := range seen {
			b.WriteString(e.line + "\n")
		}
		t.Logf("exec's stderr:\n%s", b.String())
	}
}
