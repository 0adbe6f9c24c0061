package relay

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func TestParsePipeSub(t *testing.T) {
	for _, tc := range []struct {
		subject string
		want    pipeSub
		ok      bool
	}{
		{"farpipe.pipe.backup", pipeSub{name: "backup", role: "listen"}, true},
		{"_INBOX.abc.fp.d.backup", pipeSub{name: "backup", role: "dial", inbox: "_INBOX.abc.fp.d.backup"}, true},
		{"_INBOX.abc.fp.l.logs-1", pipeSub{name: "logs-1", role: "listen", inbox: "_INBOX.abc.fp.l.logs-1"}, true},
		{"_INBOX.abc.fp.x.backup", pipeSub{}, false}, // no such role
		{"_INBOX.abc", pipeSub{}, false},             // an inbox of an older farpipe, or not farpipe
		{"_INBOX.abc.*", pipeSub{}, false},           // nats.go's reply inboxes
		{"_INBOX.abc.fp.d.back*", pipeSub{}, false},  // not a pipe name
		{"farpipe.pipe.a.b", pipeSub{}, false},       // not a pipe name
		{"farpipe.stream.logs.*", pipeSub{}, false},  // a stream
		{"foo.abc.fp.d.backup", pipeSub{}, false},    // not an inbox
		{"farpipe.pipe." + string(make([]byte, 65)), pipeSub{}, false},
	} {
		got, ok := parsePipeSub(tc.subject, 0)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parsePipeSub(%q) = %+v, %v; want %+v, %v", tc.subject, got, ok, tc.want, tc.ok)
		}
	}
}

// conn builds a client of a Connz sample.
func conn(cid uint64, port int, inBytes int64, subs ...server.SubDetail) *server.ConnInfo {
	return &server.ConnInfo{Cid: cid, IP: "127.0.0.1", Port: port, Name: "farpipe", InBytes: inBytes, SubsDetail: subs}
}

func sub(subject string, msgs int64) server.SubDetail {
	return server.SubDetail{Subject: subject, Msgs: msgs}
}

func TestSnapshotPipes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type want struct {
		name    string
		bytes   int64
		rate    float64
		resumes int
		approx  bool
		ends    []EndInfo
	}
	listenEnd := EndInfo{Role: "listen", Addr: "127.0.0.1:1001", Name: "farpipe", Cid: 1, Conns: 1}
	dialEnd := func(cid uint64, port int) EndInfo {
		return EndInfo{Role: "dial", Addr: "127.0.0.1:" + strconv.Itoa(port), Name: "farpipe", Cid: cid, Conns: 1}
	}
	// Each step is one sample, a second after the last.
	steps := []struct {
		conns []*server.ConnInfo
		want  []want
	}{
		{ // a listener waits at "a"
			conns: []*server.ConnInfo{conn(1, 1001, 100, sub("farpipe.pipe.a", 0))},
			want:  []want{{name: "a", bytes: 100, ends: []EndInfo{{Role: "listen", Addr: "127.0.0.1:1001", Name: "farpipe", Cid: 1}}}},
		},
		{ // a dialer comes: both ends, and their bytes
			conns: []*server.ConnInfo{
				conn(1, 1001, 300, sub("farpipe.pipe.a", 1), sub("_INBOX.x1.fp.l.a", 5)),
				conn(2, 1002, 1000, sub("_INBOX.y1.fp.d.a", 2), sub("_INBOX.mux.*", 1)),
			},
			want: []want{{name: "a", bytes: 1300, rate: 1200, ends: []EndInfo{listenEnd, dialEnd(2, 1002)}}},
		},
		{ // the dialer resumed on a new inbox (and a new NATS connection)
			conns: []*server.ConnInfo{
				conn(1, 1001, 400, sub("farpipe.pipe.a", 2), sub("_INBOX.x2.fp.l.a", 1)),
				conn(3, 1003, 500, sub("_INBOX.y2.fp.d.a", 1)),
			},
			want: []want{{name: "a", bytes: 1900, rate: 600, resumes: 1, ends: []EndInfo{listenEnd, dialEnd(3, 1003)}}},
		},
		{ // a second pipe "b" on the dialer's connection: its bytes are split by messages
			conns: []*server.ConnInfo{
				conn(1, 1001, 400, sub("farpipe.pipe.a", 2), sub("_INBOX.x2.fp.l.a", 1)),
				conn(3, 1003, 900, sub("_INBOX.y2.fp.d.a", 2), sub("_INBOX.z1.fp.d.b", 3)),
			},
			want: []want{
				{name: "a", bytes: 2000, rate: 100, resumes: 1, approx: true, ends: []EndInfo{listenEnd, dialEnd(3, 1003)}},
				{name: "b", bytes: 300, rate: 300, approx: true, ends: []EndInfo{dialEnd(3, 1003)}},
			},
		},
	}
	tr := newTracker()
	for i, st := range steps {
		snap := tr.snapshot(t0.Add(time.Duration(i)*time.Second), "r1", &server.Connz{Conns: st.conns}, nil)
		if snap.Clients != len(st.conns) || snap.Server != "r1" {
			t.Errorf("step %d: clients %d server %q", i, snap.Clients, snap.Server)
		}
		var got []want
		for _, p := range snap.Pipes {
			got = append(got, want{p.Name, p.Bytes, p.Rate, p.Resumes, p.Approx, p.Ends})
		}
		if !reflect.DeepEqual(got, st.want) {
			t.Errorf("step %d:\n got %+v\nwant %+v", i, got, st.want)
		}
	}
	// Gone: no row, and forgotten after a while.
	snap := tr.snapshot(t0.Add(10*time.Second), "r1", &server.Connz{}, nil)
	if len(snap.Pipes) != 0 || len(tr.pipes) != 2 {
		t.Errorf("after the ends left: %d rows, %d pipes remembered; want 0, 2", len(snap.Pipes), len(tr.pipes))
	}
	tr.snapshot(t0.Add(10*time.Second+forgetAfter+time.Second), "r1", &server.Connz{}, nil)
	if len(tr.pipes) != 0 {
		t.Errorf("%d pipes remembered after %v; want none", len(tr.pipes), forgetAfter)
	}
}

// TestSnapshotMergeIsNotResume: several dialers at one name at once (merge
// --from 3) are not resumes; one of them coming back is.
func TestSnapshotMergeIsNotResume(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newTracker()
	three := []*server.ConnInfo{
		conn(1, 1001, 0, sub("farpipe.pipe.m", 0), sub("_INBOX.l1.fp.l.m", 0), sub("_INBOX.l2.fp.l.m", 0), sub("_INBOX.l3.fp.l.m", 0)),
		conn(2, 1002, 0, sub("_INBOX.d1.fp.d.m", 0)),
		conn(3, 1003, 0, sub("_INBOX.d2.fp.d.m", 0)),
		conn(4, 1004, 0, sub("_INBOX.d3.fp.d.m", 0)),
	}
	snap := tr.snapshot(t0, "r", &server.Connz{Conns: three}, nil)
	if p := snap.Pipes[0]; p.Resumes != 0 || len(p.Ends) != 4 || p.Ends[0].Conns != 3 {
		t.Fatalf("three senders: %+v; want 0 resumes, 4 ends, 3 connections at the listener", p)
	}
	three[3] = conn(4, 1004, 0, sub("_INBOX.d4.fp.d.m", 0))
	snap = tr.snapshot(t0.Add(time.Second), "r", &server.Connz{Conns: three}, nil)
	if p := snap.Pipes[0]; p.Resumes != 1 {
		t.Errorf("one sender resumed: %d resumes; want 1", p.Resumes)
	}
}

func TestSnapshotStreamsAndQueues(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	js := func(bytes uint64) *server.JSInfo {
		return &server.JSInfo{AccountDetails: []*server.AccountDetail{{Streams: []server.StreamDetail{
			{Name: "logs", State: server.StreamState{Msgs: 10, Bytes: bytes, NumSubjects: 2}, Consumer: []*server.ConsumerInfo{
				{Name: "archive", Config: &server.ConsumerConfig{Durable: "archive"}, NumPending: 7, NumAckPending: 1, NumWaiting: 1},
				{Name: "eph123", Config: &server.ConsumerConfig{}, NumPending: 0},
			}},
			{Name: "FARPIPE_WORK_jobs", State: server.StreamState{Msgs: 12}, Consumer: []*server.ConsumerInfo{
				{Name: "workers", NumPending: 9, NumAckPending: 3, NumRedelivered: 1, NumWaiting: 2},
			}},
			{Name: "FARPIPE_RESULT_jobs", State: server.StreamState{Msgs: 4}},
			{Name: "FARPIPE_WORK_idle", State: server.StreamState{Msgs: 5}},
		}}}}
	}
	tr := newTracker()
	tr.snapshot(t0, "r", nil, js(1000))
	snap := tr.snapshot(t0.Add(2*time.Second), "r", nil, js(3000))
	wantStreams := []StreamInfo{{Name: "logs", Records: 10, Bytes: 3000, Rate: 1000, Publishers: 2, Subscribers: []SubscriberInfo{
		{Name: "archive", Durable: true, Lag: 7, AckPending: 1, Active: true},
		{Name: "eph123", Lag: 0},
	}}}
	wantQueues := []QueueInfo{
		{Name: "idle", Depth: 5},
		{Name: "jobs", Depth: 9, InFlight: 3, Redeliveries: 1, Workers: 5, Results: 4},
	}
	if !reflect.DeepEqual(snap.Streams, wantStreams) {
		t.Errorf("streams:\n got %+v\nwant %+v", snap.Streams, wantStreams)
	}
	if !reflect.DeepEqual(snap.Queues, wantQueues) {
		t.Errorf("queues:\n got %+v\nwant %+v", snap.Queues, wantQueues)
	}
	if snap.Pipes == nil {
		t.Error("pipes is nil: the page wants an empty list")
	}
}

func TestDashAdmit(t *testing.T) {
	d := startDashForTest("s3cret")
	for _, tc := range []struct {
		name   string
		remote string
		host   string
		url    string
		header map[string]string
		cookie string
		want   admission
	}{
		{"loopback", "127.0.0.1:5000", "127.0.0.1:8080", "/", nil, "", admitted},
		{"loopback v6", "[::1]:5000", "[::1]:8080", "/", nil, "", admitted},
		{"loopback by name", "127.0.0.1:5000", "localhost:8080", "/", nil, "", admitted},
		{"loopback, another name (DNS rebinding)", "127.0.0.1:5000", "evil.example:8080", "/", nil, "", refused},
		{"loopback through a proxy", "127.0.0.1:5000", "127.0.0.1:8080", "/", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "", refused},
		{"loopback through a proxy (Forwarded)", "127.0.0.1:5000", "127.0.0.1:8080", "/", map[string]string{"Forwarded": "for=203.0.113.9"}, "", refused},
		{"remote without token", "192.0.2.7:5000", "relay:8080", "/", nil, "", refused},
		{"remote, wrong token", "192.0.2.7:5000", "relay:8080", "/?token=nope", nil, "", refused},
		{"remote, token prefix", "192.0.2.7:5000", "relay:8080", "/?token=s3cre", nil, "", refused},
		{"remote, token in query", "192.0.2.7:5000", "relay:8080", "/?token=s3cret", nil, "", admittedByQuery},
		{"remote, bearer", "192.0.2.7:5000", "relay:8080", "/events", map[string]string{"Authorization": "Bearer s3cret"}, "", admitted},
		{"remote, wrong bearer", "192.0.2.7:5000", "relay:8080", "/events", map[string]string{"Authorization": "Bearer s3cre"}, "", refused},
		{"remote, cookie", "192.0.2.7:5000", "relay:8080", "/events", nil, d.cookie, admitted},
		{"remote, the token as cookie", "192.0.2.7:5000", "relay:8080", "/events", nil, "s3cret", refused},
	} {
		r := httptest.NewRequest("GET", tc.url, nil)
		r.RemoteAddr, r.Host = tc.remote, tc.host
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		if tc.cookie != "" {
			r.AddCookie(&http.Cookie{Name: dashCookie, Value: tc.cookie})
		}
		if got := d.admit(r); got != tc.want {
			t.Errorf("%s: admit = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDashLogin: a token in the address sets the cookie and leaves the
// address; the cookie then lets the client in; without either, 401.
func TestDashLogin(t *testing.T) {
	d := startDashForTest("s3cret")
	h := d.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page")) }))
	do := func(url string, c *http.Cookie) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", url, nil)
		r.RemoteAddr, r.Host = "192.0.2.7:5000", "relay:8080"
		r.TLS = &tls.ConnectionState{}
		if c != nil {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("/", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d, want 401", w.Code)
	}
	w := do("/?token=s3cret&x=1", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/?x=1" {
		t.Fatalf("with the token: %d to %q, want 303 to /?x=1", w.Code, w.Header().Get("Location"))
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || !cs[0].Secure || cs[0].Value == "s3cret" {
		t.Fatalf("cookie %+v: want one, HttpOnly, SameSite=Strict, Secure over TLS, not the token itself", cs)
	}
	if w := do("/", cs[0]); w.Code != http.StatusOK || w.Body.String() != "page" {
		t.Errorf("with the cookie: %d %q, want 200 page", w.Code, w.Body.String())
	}
}

func TestDashToken(t *testing.T) {
	for _, tc := range []struct {
		cfg     Config
		want    string
		wantGen bool
	}{
		{Config{HTTPToken: "h", Token: "t"}, "h", false},
		{Config{Token: "t"}, "t", false},
		{Config{User: "u", Password: "p"}, "", true},
		{Config{}, "", true},
	} {
		got, gen := dashToken(&tc.cfg)
		if gen != tc.wantGen || (!gen && got != tc.want) || len(got) < 16 && gen {
			t.Errorf("dashToken(%+v) = %q, %v; want %q, %v", tc.cfg, got, gen, tc.want, tc.wantGen)
		}
	}
}

// startDashForTest makes a dash that only checks requests: nothing runs.
func startDashForTest(token string) *dash {
	d := &dash{token: token}
	d.cookie = dashCookieValue(token)
	return d
}
