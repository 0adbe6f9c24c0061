package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/farpipe/farpipe/transport"
	natst "github.com/farpipe/farpipe/transport/nats"
)

// envScreenshot names a file where TestDashBrowser also saves its
// screenshot (docs/relay-page.png is made so).
const envScreenshot = "FARPIPE_SCREENSHOT"

// chromium returns Debian's Chromium, failing the test when it is missing
// (CI installs it); it skips off Linux.
func chromium(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the browser test runs on Linux, with Debian's chromium")
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("farpipe: the relay page's browser test needs Chromium: install it (apt-get install chromium; .ci/run does)")
	return ""
}

// relayPort is the port of the relay's client listener.
func relayPort(t *testing.T, s *Server) string {
	u, err := url.Parse(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// slowPipe runs a pipe named name through the relay: a listener and a
// dialer of the nats transport (on two NATS connections, as two hosts would
// have), the dialer writing 8 KiB every 20 ms and the listener reading
// everything. The returned function (idempotent) stops it and waits for
// its goroutines.
func slowPipe(t *testing.T, port, name string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := transport.Listen(ctx, "nats://127.0.0.1:"+port+"/"+name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := transport.Dial(ctx, "nats://localhost:"+port+"/"+name)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	r, err := ln.Accept()
	if err != nil {
		w.Close()
		ln.Close()
		t.Fatal(err)
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // owned by stop
		defer wg.Done()
		io.Copy(io.Discard, r)
	}()
	go func() { // owned by stop
		defer wg.Done()
		buf := make([]byte, 8<<10)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			w.Close()
			r.Close()
			ln.Close()
			wg.Wait()
		})
	}
}

// streamAndQueue makes, the way pub, sub and map --via lay them out, a
// stream "logs" of two publishers with a subscriber that is behind, and a
// work queue "thumbnails" with chunks waiting and two in flight.
func streamAndQueue(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(connect(t, s.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "logs", Subjects: []string{"farpipe.stream.logs.*"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if _, err := js.Publish(ctx, fmt.Sprintf("farpipe.stream.logs.web%d", i%2+1), []byte(strings.Repeat("log line\n", 100))); err != nil {
			t.Fatal(err)
		}
	}
	c, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "archive", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Fetch(15)
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		m.Ack()
	}
	wq, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: workPrefix + "thumbnails", Subjects: []string{"farpipe.work.thumbnails.>"},
		Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if _, err := js.Publish(ctx, "farpipe.work.thumbnails.run1", fmt.Appendf(nil, "item %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	wc, err := wq.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: workersName, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wc.Fetch(2); err != nil { // taken, never acked: in flight
		t.Fatal(err)
	}
}

// TestDashBrowser opens the relay's page in headless Chromium, with a pipe,
// a stream and a queue on the relay, and checks that the pipe appears with
// its two ends and a byte count that rises without a reload.
func TestDashBrowser(t *testing.T) {
	bin := chromium(t)
	s := startRelay(t, Config{HTTP: "127.0.0.1:0", Name: "relay-1"})
	streamAndQueue(t, s)
	stop := slowPipe(t, relayPort(t, s), "nightly-backup")
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 820))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses root
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	const bytesOf = `(() => { const td = document.querySelector('tr[data-pipe="nightly-backup"] td.bytes');
		return td ? Number(td.dataset.bytes) : 0; })()`
	poll := func(expr string) error {
		_, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(time.Minute)))
		return err
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(s.HTTPURL())); err != nil {
		t.Fatal(err)
	}
	if err := poll(bytesOf + " > 0"); err != nil {
		t.Fatalf("the pipe's row did not appear: %v", err)
	}
	first, err := chromedp.Run(bctx, chromedp.Evaluate[float64](bytesOf))
	if err != nil {
		t.Fatal(err)
	}
	ends, err := chromedp.Run(bctx, chromedp.Evaluate[string](
		`Array.from(document.querySelectorAll('tr[data-pipe="nightly-backup"] .end')).map(e => e.dataset.role || "none").join(",")`))
	if err != nil {
		t.Fatal(err)
	}
	if ends != "listen,dial" {
		t.Errorf("the pipe's row shows the ends %q, want listen,dial", ends)
	}
	if err := poll(fmt.Sprintf("%s > %v", bytesOf, first)); err != nil {
		t.Fatalf("the pipe's byte count stayed at %v: %v", first, err)
	}
	second, err := chromedp.Run(bctx, chromedp.Evaluate[float64](bytesOf))
	if err != nil {
		t.Fatal(err)
	}
	// The stream with its subscriber's lag, the queue with chunks in flight.
	for _, expr := range []string{
		`document.querySelector('tr[data-stream="logs"] .sub[data-lag="25"]') !== null`,
		`(q => q !== null && q.textContent === "2")(document.querySelector('tr[data-queue="thumbnails"] td.inflight'))`,
		`document.getElementById("status").textContent === "live"`,
	} {
		if err := poll(expr); err != nil {
			t.Fatalf("the page did not show %s: %v", expr, err)
		}
	}
	png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(t.TempDir(), "relay-page.png")}
	if p := os.Getenv(envScreenshot); p != "" {
		paths = append(paths, p)
	}
	for _, p := range paths {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("bytes %v then %v; screenshot %s", first, second, strings.Join(paths, ", "))
}

// TestDashEvents reads /events as a program would, and checks the token
// rule on the real server: a request by another name than loopback needs
// the token, which then sets the cookie.
func TestDashEvents(t *testing.T) {
	s := startRelay(t, Config{HTTP: "127.0.0.1:0", HTTPToken: "page-token"})
	stop := slowPipe(t, relayPort(t, s), "events-pipe")
	defer stop()
	if !strings.Contains(s.ReadyLine(), "; page at "+s.HTTPURL()) || strings.Contains(s.ReadyLine(), "page-token") {
		t.Errorf("ready line %q: want the page's address, without its token", s.ReadyLine())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.HTTPURL()+"events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("/events: %s, %s", resp.Status, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	found := false
	for !found && sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var snap Snapshot
		if err := json.Unmarshal([]byte(data), &snap); err != nil {
			t.Fatalf("an event is not a snapshot: %v: %s", err, data)
		}
		for _, p := range snap.Pipes {
			found = found || p.Name == "events-pipe" && len(p.Ends) == 2 && p.Bytes > 0
		}
	}
	if !found {
		t.Fatalf("the events ended without the pipe: %v", sc.Err())
	}

	// By another name than loopback (as through a proxy, or a rebound DNS
	// name), the token is needed.
	_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(s.HTTPURL(), "http://"), "/"))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, cookie *http.Cookie) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:"+port+path, nil)
		req.Host = "relay.example:" + port
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get("/snapshot", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %s, want 401", r.Status)
	}
	r := get("/?token=page-token", nil)
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 {
		t.Fatalf("with the token: %s, %d cookies; want 303 and a cookie", r.Status, len(r.Cookies()))
	}
	if r := get("/snapshot", r.Cookies()[0]); r.StatusCode != http.StatusOK {
		t.Errorf("with the cookie: %s, want 200", r.Status)
	}

	// The relay stops while a page is open: the events end.
	stop()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("stopping with a page open: %v", err)
	}
	for sc.Scan() {
	}
}

// TestDashResume: an end that comes back at the same name on a new
// connection (what a session's resume does at the transport) counts as a
// resume, on the real server's subscriptions.
func TestDashResume(t *testing.T) {
	s := startRelay(t, Config{})
	port := relayPort(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := transport.Listen(ctx, "nats://127.0.0.1:"+port+"/comes-back")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Hold the dialer's NATS connection, as a process with other pipes on
	// the relay does: each Close then unsubscribes before the next Dial
	// subscribes, on one connection, in order (without it, the server may
	// still list a closed connection's inbox next to the new one).
	_, release, err := natst.Connect(ctx, "nats://localhost:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	tr := newTracker()
	sample := func() PipeInfo {
		t.Helper()
		cz, err := s.NATS().Connz(&server.ConnzOptions{SubscriptionsDetail: true})
		if err != nil {
			t.Fatal(err)
		}
		snap := tr.snapshot(time.Now(), s.Name(), cz, nil)
		if len(snap.Pipes) != 1 || snap.Pipes[0].Name != "comes-back" {
			t.Fatalf("pipes %+v, want comes-back alone", snap.Pipes)
		}
		return snap.Pipes[0]
	}
	for i := range 3 {
		w, err := transport.Dial(ctx, "nats://localhost:"+port+"/comes-back")
		if err != nil {
			t.Fatal(err)
		}
		r, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		p := sample()
		w.Close()
		r.Close()
		if p.Resumes != i || len(p.Ends) != 2 || p.Ends[0].Role != "listen" || p.Ends[1].Role != "dial" {
			t.Fatalf("connection %d: %+v; want %d resumes, a listen and a dial end", i+1, p, i)
		}
	}
}
