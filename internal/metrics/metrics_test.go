package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/farpipe/farpipe"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// client scrapes without keeping connections (no goroutine left behind).
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// scrape gets the metrics page of s over HTTP and parses it.
func scrape(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(s.URL())
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the metrics page: %v", err)
	}
	return fams
}

// value is the value of the single metric of family name (counter, gauge,
// or a histogram's count), or -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string) float64 {
	f := fams[name]
	if f == nil || len(f.Metric) != 1 {
		return -1
	}
	m := f.Metric[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

func serve(t *testing.T, r *Registry) *Server {
	t.Helper()
	s, err := Serve("127.0.0.1:0", r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// TestPipes: a real pipe over loopback moves the byte counters on both
// sides; a wrong token counts as an authentication failure, a second peer
// of a one-pipe listener as a refusal.
func TestPipes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := New()
	pipes := r.Pipes(1 << 20)
	s := serve(t, r)

	before := scrape(t, s)
	for _, name := range []string{"go_goroutines", "process_open_fds", "farpipe_pipe_written_bytes_total", "farpipe_pipe_open", "farpipe_auth_failures_total"} {
		if value(before, name) < 0 {
			t.Errorf("no %s before any pipe", name)
		}
	}
	if v := value(before, "farpipe_pipe_written_bytes_total"); v != 0 {
		t.Errorf("farpipe_pipe_written_bytes_total = %v before any pipe, want 0", v)
	}

	tok := farpipe.NewToken()
	logged := make(chan error, 8) // the listener's errors, once counted
	ln, err := farpipe.Listen(ctx, "127.0.0.1:0", farpipe.WithToken(tok), farpipe.WithWindow(1<<20),
		farpipe.WithMaxSessions(1), farpipe.WithErrorLog(func(err error) {
			pipes.ListenerError(err)
			logged <- err
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 3<<20 + 17
	data := bytes.Repeat([]byte("farpipe metrics "), n/16+1)[:n]
	got := make(chan []byte, 1)
	acc := make(chan error, 1)
	go func() { // waited for below (got, acc)
		c, err := ln.Accept(ctx)
		if err != nil {
			acc <- err
			return
		}
		pipes.Track(c)
		acc <- nil
		b, _ := io.ReadAll(c)
		c.Close()
		got <- b
	}()
	// A wrong token (checked after the room for a new pipe: before it).
	if _, err := farpipe.Dial(ctx, ln.Addr().String(), farpipe.WithToken(farpipe.NewToken())); !errors.Is(err, farpipe.ErrAuth) {
		t.Errorf("Dial with a wrong token: %v, want ErrAuth", err)
	}
	if err := <-logged; !errors.Is(err, farpipe.ErrAuth) {
		t.Errorf("the listener logged %v, want ErrAuth", err)
	}
	c, err := farpipe.Dial(ctx, ln.Addr().String(), farpipe.WithToken(tok), farpipe.WithWindow(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	pipes.Track(c)
	if err := <-acc; err != nil {
		t.Fatal(err)
	}
	if open := value(scrape(t, s), "farpipe_pipe_open"); open != 2 {
		t.Errorf("farpipe_pipe_open = %v with both ends open, want 2", open)
	}

	// A second pipe while the first runs (refused).
	if _, err := farpipe.Dial(ctx, ln.Addr().String(), farpipe.WithToken(tok), farpipe.WithResumeTimeout(0)); err == nil {
		t.Errorf("a second pipe to a one-pipe listener was accepted")
	}
	if err := <-logged; !errors.Is(err, farpipe.ErrRefused) {
		t.Errorf("the listener logged %v, want ErrRefused", err)
	}

	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := c.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("received %d bytes, want %d", len(b), len(data))
	}
	c.Close()
	<-c.Done()

	after := scrape(t, s)
	for _, tt := range []struct {
		name string
		want float64
	}{
		{"farpipe_pipe_written_bytes_total", n},
		{"farpipe_pipe_delivered_bytes_total", n},
		{"farpipe_pipe_read_bytes_total", n},
		{"farpipe_pipes_total", 2},
		{"farpipe_auth_failures_total", 1},
		{"farpipe_sessions_refused_total", 1},
		{"farpipe_pipe_resumes_total", 0},
		{"farpipe_pipe_window_bytes", 1 << 20},
	} {
		if v := value(after, tt.name); v != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, v, tt.want)
		}
	}
}

// TestWorkAndStreams: chunk and stream counters move as the commands call
// them; the depth gauge is read at scrape time.
func TestWorkAndStreams(t *testing.T) {
	r := New()
	depth := 7.0
	w := r.Work(func() (float64, bool) { return depth, true })
	pub, sub := r.Pub("logs"), r.Sub("logs")
	s := serve(t, r)

	end := w.Start()
	if v := value(scrape(t, s), "farpipe_chunks_in_flight"); v != 1 {
		t.Errorf("farpipe_chunks_in_flight = %v while a chunk runs, want 1", v)
	}
	end(Done)
	w.Retried()
	w.Start()(Failed)
	w.Start()(Abandoned)
	pub.Add(10, 100, 2)
	sub.Add(4, 40, 1)
	sub.Again(1)
	sub.Lag(6)
	depth = 3

	fams := scrape(t, s)
	for _, tt := range []struct {
		name string
		want float64
	}{
		{"farpipe_chunks_done_total", 1},
		{"farpipe_chunks_failed_total", 1},
		{"farpipe_chunks_retried_total", 1},
		{"farpipe_chunk_duration_seconds", 2},
		{"farpipe_chunks_in_flight", 0},
		{"farpipe_queue_depth_chunks", 3},
		{"farpipe_pub_records_total", 10},
		{"farpipe_pub_bytes_total", 100},
		{"farpipe_sub_records_total", 4},
		{"farpipe_sub_redelivered_messages_total", 1},
		{"farpipe_sub_lag_messages", 6},
	} {
		if v := value(fams, tt.name); v != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, v, tt.want)
		}
	}
	if l := fams["farpipe_sub_lag_messages"].Metric[0].Label; len(l) != 1 || l[0].GetName() != "stream" || l[0].GetValue() != "logs" {
		t.Errorf("farpipe_sub_lag_messages labels %v, want stream=logs", l)
	}

	// Nil parts (no --metrics) do nothing.
	var nw *Work
	nw.Start()(Done)
	nw.Retried()
	var ns *Stream
	ns.Add(1, 1, 1)
	ns.Lag(1)
	var np *Pipes
	np.Track(nil)
	np.ListenerError(farpipe.ErrAuth)
}

// TestNATS: the relay's collector reads a real server's counters.
func TestNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	r := New()
	r.NATS(ns)
	s := serve(t, r)

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for range 5 {
		if err := nc.Publish("x", []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, s)
	if v := value(fams, "farpipe_relay_connections"); v != 1 {
		t.Errorf("farpipe_relay_connections = %v, want 1", v)
	}
	if v := value(fams, "farpipe_relay_in_messages_total"); v < 5 {
		t.Errorf("farpipe_relay_in_messages_total = %v, want at least 5", v)
	}
	if v := value(fams, "farpipe_relay_in_bytes_total"); v < 25 {
		t.Errorf("farpipe_relay_in_bytes_total = %v, want at least 25", v)
	}
	if v := value(fams, "farpipe_relay_jetstream_streams"); v != 0 {
		t.Errorf("farpipe_relay_jetstream_streams = %v, want 0", v)
	}
}
