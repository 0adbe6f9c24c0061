package metrics

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/farpipe/farpipe"
)

// channels is how many channels a farpipe connection has (Conn.Channel).
const channels = 4

// Pipes counts the farpipe connections of a process. Register it with
// Registry.Pipes, Track every Conn, and give ListenerError the errors of
// the listeners' WithErrorLog. Its counters are read from the Conns when
// Prometheus scrapes: tracking costs nothing on the data path.
type Pipes struct {
	window float64 // bytes: the window each pipe was given

	mu    sync.Mutex // guards what follows; never held on the data path
	open  map[*farpipe.Conn]struct{}
	ended pipeTotals // of the connections that ended

	opened, authFailed, refused, failed prometheus.Counter

	written, delivered, read, resumes, resent, inFlight, openDesc, windowDesc *prometheus.Desc
}

// pipeTotals are the counters of one connection, or their sum.
type pipeTotals struct {
	written, delivered, read, resumes, resent uint64
}

func (t *pipeTotals) add(o pipeTotals) {
	t.written += o.written
	t.delivered += o.delivered
	t.read += o.read
	t.resumes += o.resumes
	t.resent += o.resent
}

func connTotals(c *farpipe.Conn) pipeTotals {
	st := c.Stats()
	t := pipeTotals{resumes: uint64(st.Reconnects), resent: st.Resent}
	for i := range channels {
		cs := c.Channel(i).Stats()
		t.written += cs.Written
		t.delivered += cs.Delivered
		t.read += cs.Read
	}
	return t
}

// Pipes adds the pipe metrics to r. window is the window of each pipe
// in bytes (--window), shown as farpipe_pipe_window_bytes.
func (r *Registry) Pipes(window int) *Pipes {
	p := &Pipes{window: float64(window), open: map[*farpipe.Conn]struct{}{}}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	}
	p.opened = counter("pipes_total", "Pipes (farpipe sessions) opened, dialed or accepted.")
	p.authFailed = counter("auth_failures_total", "Incoming connections that failed authentication (wrong token or certificate).")
	p.refused = counter("sessions_refused_total", "New pipes a listener refused: it was full (--once, exec --max-sessions) or shutting down.")
	p.failed = counter("handshake_failures_total", "Incoming connections whose handshake failed for another reason than authentication or a refusal.")
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "pipe", name), help, nil, nil)
	}
	p.written = desc("written_bytes_total", "Bytes this process wrote into its pipes (all channels).")
	p.delivered = desc("delivered_bytes_total", "Of the bytes written, those the peer's application confirmed it received.")
	p.read = desc("read_bytes_total", "Bytes this process read from its pipes and handed on.")
	p.resumes = desc("resumes_total", "Connections resumed after a failure.")
	p.resent = desc("resent_bytes_total", "Bytes sent again because of resumptions.")
	p.inFlight = desc("in_flight_bytes", "Bytes written and not yet delivered over the open pipes: the windows' occupancy.")
	p.openDesc = desc("open", "Pipes open now.")
	p.windowDesc = desc("window_bytes", "The window of each pipe (most bytes in flight per direction).")
	r.reg.MustRegister(p, p.opened, p.authFailed, p.refused, p.failed)
	return p
}

// Track counts c from now on, until it is done (Conn.Done); c needs no
// untracking. Safe on a nil *Pipes (no metrics).
func (p *Pipes) Track(c *farpipe.Conn) {
	if p == nil {
		return
	}
	p.opened.Inc()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked()
	p.open[c] = struct{}{}
}

// sweepLocked moves the counters of the connections that ended to ended.
// p.mu is held.
func (p *Pipes) sweepLocked() {
	for c := range p.open {
		select {
		case <-c.Done():
			p.ended.add(connTotals(c))
			delete(p.open, c)
		default:
		}
	}
}

// ListenerError counts an error a listener gave WithErrorLog: an
// authentication failure, a refused pipe, or another failed handshake.
// Safe on a nil *Pipes.
func (p *Pipes) ListenerError(err error) {
	switch {
	case p == nil || err == nil:
	case errors.Is(err, farpipe.ErrAuth):
		p.authFailed.Inc()
	case errors.Is(err, farpipe.ErrRefused):
		p.refused.Inc()
	default:
		p.failed.Inc()
	}
}

// Describe implements prometheus.Collector.
func (p *Pipes) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.written, p.delivered, p.read, p.resumes, p.resent, p.inFlight, p.openDesc, p.windowDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the ended connections' totals
// plus the open ones' counters now.
func (p *Pipes) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	p.sweepLocked()
	t := p.ended
	var inFlight uint64
	for c := range p.open {
		ct := connTotals(c)
		t.add(ct)
		inFlight += ct.written - ct.delivered
	}
	n := len(p.open)
	p.mu.Unlock()
	for _, m := range []struct {
		d *prometheus.Desc
		v uint64
	}{{p.written, t.written}, {p.delivered, t.delivered}, {p.read, t.read}, {p.resumes, t.resumes}, {p.resent, t.resent}} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v))
	}
	ch <- prometheus.MustNewConstMetric(p.inFlight, prometheus.GaugeValue, float64(inFlight))
	ch <- prometheus.MustNewConstMetric(p.openDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(p.windowDesc, prometheus.GaugeValue, p.window)
}
