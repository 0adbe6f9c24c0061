package relay

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

//go:embed dashboard.html dashboard.js dashboard.css
var dashFiles embed.FS

// Settings of the page.
const (
	dashInterval   = time.Second // how often the server's monitoring is sampled
	dashMaxClients = 64          // /events streams at once; more are refused
	dashMaxConns   = 4096        // the clients one sample lists
	dashCookie     = "farpipe_relay_page"
	dashStopWait   = 5 * time.Second // for the page's server to stop
)

// dash serves the relay's page: it samples the server's monitoring every
// dashInterval into a Snapshot and streams it to /events.
//
// Goroutines: sample and serve, both owned by close, which waits for them;
// the HTTP server's handlers end when stop is closed. Lock: mu guards
// snap, changed and clients; nothing else is locked while it is held.
type dash struct {
	ns     *server.Server
	ln     net.Listener
	http   *http.Server
	token  string // what a client off loopback must show
	cookie string // the cookie's value: an HMAC of token, not the token
	gen    bool   // the token was made up here (no --token was given)

	stop      chan struct{}
	sampled   chan struct{} // closed when sample returned
	served    chan struct{} // closed when serve returned
	closeOnce sync.Once

	mu      sync.Mutex
	snap    []byte        // the last Snapshot, as JSON
	changed chan struct{} // closed, and replaced, by each new snapshot
	clients int           // /events streams open
}

// listenDash opens the page's listener; the page starts with startDash
// once the server is ready.
func listenDash(addr string) (net.Listener, error) {
	host, port, err := hostPort("--http", addr)
	if err != nil {
		return nil, err
	}
	if port == server.RANDOM_PORT {
		port = 0
	}
	a := net.JoinHostPort(host, fmt.Sprint(port))
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return nil, fmt.Errorf("farpipe: the relay cannot listen on %s: %w: stop what uses it or give another --http", a, errors.Unwrap(err))
	}
	return ln, nil
}

// dashToken is the token of the page: the HTTP token, else the relay's
// token, else a random one (gen).
func dashToken(cfg *Config) (token string, gen bool) {
	switch {
	case cfg.HTTPToken != "":
		return cfg.HTTPToken, false
	case cfg.Token != "":
		return cfg.Token, false
	}
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:]), true
}

// dashCookieValue is the value of the page's cookie for token: an HMAC of
// it, so that the cookie does not give the token away (the relay's token
// admits NATS clients too).
func dashCookieValue(token string) string {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("farpipe relay page"))
	return hex.EncodeToString(mac.Sum(nil))
}

func startDash(ns *server.Server, ln net.Listener, token string, gen bool) *dash {
	d := &dash{ns: ns, ln: ln, token: token, gen: gen, cookie: dashCookieValue(token),
		stop: make(chan struct{}), sampled: make(chan struct{}), served: make(chan struct{}),
		changed: make(chan struct{})}
	d.http = &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: log.New(io.Discard, "", 0)} // the relay is quiet; a client's errors are its own
	d.take(newTracker(), time.Now())
	go d.sample() // owned by close
	go d.serve()  // owned by close
	return d
}

func (d *dash) serve() {
	defer close(d.served)
	d.http.Serve(d.ln) // returns http.ErrServerClosed after Shutdown
}

// sample takes a snapshot every dashInterval until stop.
func (d *dash) sample() {
	defer close(d.sampled)
	tr := newTracker()
	d.take(tr, time.Now())
	tick := time.NewTicker(dashInterval)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case now := <-tick.C:
			d.take(tr, now)
		}
	}
}

// take samples the server's monitoring once.
func (d *dash) take(tr *tracker, now time.Time) {
	cz, err := d.ns.Connz(&server.ConnzOptions{SubscriptionsDetail: true, Limit: dashMaxConns})
	if err != nil {
		cz = nil
	}
	js, err := d.ns.Jsz(&server.JSzOptions{Accounts: true, Streams: true, Consumer: true, Config: true})
	if err != nil {
		js = nil
	}
	b, err := json.Marshal(tr.snapshot(now, d.ns.Name(), cz, js))
	if err != nil {
		return
	}
	d.mu.Lock()
	d.snap = b
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

// current returns the last snapshot and the channel closed by the next.
func (d *dash) current() ([]byte, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.snap, d.changed
}

// close stops the page and waits for its goroutines.
func (d *dash) close() {
	d.closeOnce.Do(func() {
		close(d.stop)
		ctx, cancel := context.WithTimeout(context.Background(), dashStopWait)
		defer cancel()
		if d.http.Shutdown(ctx) != nil {
			d.http.Close()
		}
		<-d.served
		<-d.sampled
	})
}

func (d *dash) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.file("dashboard.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /dashboard.js", d.file("dashboard.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /dashboard.css", d.file("dashboard.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /events", d.events)
	mux.HandleFunc("GET /snapshot", func(w http.ResponseWriter, r *http.Request) {
		b, _ := d.current()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	return d.auth(mux)
}

func (d *dash) file(name, ctype string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := dashFiles.ReadFile(name)
		if err != nil {
			http.Error(w, "farpipe: the page is missing from this build", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Write(b)
	}
}

// events streams a snapshot as a server-sent event each time there is a
// new one, until the client goes or the page stops.
func (d *dash) events(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	full := d.clients >= dashMaxClients
	if !full {
		d.clients++
	}
	d.mu.Unlock()
	if full {
		http.Error(w, "farpipe: too many pages are open on this relay: close one", http.StatusServiceUnavailable)
		return
	}
	defer func() {
		d.mu.Lock()
		d.clients--
		d.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	rc := http.NewResponseController(w)
	for {
		b, changed := d.current()
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-changed:
		case <-d.stop:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// auth lets loopback clients in, and others with the token: once as
// ?token=T (which sets a cookie and drops the token from the address), as
// the cookie, or as the header "Authorization: Bearer T".
func (d *dash) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		switch d.admit(r) {
		case admitted:
			next.ServeHTTP(w, r)
		case admittedByQuery:
			http.SetCookie(w, &http.Cookie{Name: dashCookie, Value: d.cookie, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			if r.URL.Path == "/" {
				u := *r.URL
				q := u.Query()
				q.Del("token")
				u.RawQuery = q.Encode()
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
			next.ServeHTTP(w, r)
		default:
			h.Set("WWW-Authenticate", `Bearer realm="farpipe relay"`)
			http.Error(w, "farpipe: the relay's page needs its token off this host: open /?token=TOKEN once "+
				"(the relay's --http-token-file, else its --token; or the address the relay printed)", http.StatusUnauthorized)
		}
	})
}

type admission int

const (
	refused admission = iota
	admitted
	admittedByQuery
)

// admit applies the page's rule: a loopback client that reached the page by
// a loopback name, not through a proxy, needs nothing; any other needs the
// token.
func (d *dash) admit(r *http.Request) admission {
	if loopbackRequest(r) {
		return admitted
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equalSecret(t, d.token) {
		return admitted
	}
	if c, err := r.Cookie(dashCookie); err == nil && equalSecret(c.Value, d.cookie) {
		return admitted
	}
	if t := r.URL.Query().Get("token"); t != "" && equalSecret(t, d.token) {
		return admittedByQuery
	}
	return refused
}

// equalSecret compares in constant time (the lengths too: it compares
// digests).
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1 && b != ""
}

// loopbackRequest reports whether r comes from this host directly: from a
// loopback address, without a proxy's forwarding headers (a reverse proxy
// on this host would make every client look local), and addressed to a
// loopback name (a page of another site that a DNS name rebound to
// 127.0.0.1 cannot read it).
func loopbackRequest(r *http.Request) bool {
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if r.Header.Get(k) != "" {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return false
	}
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
