package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Work counts the chunks of map and worker. Its methods are safe on a nil
// *Work (no metrics) and for concurrent use; each is an atomic update.
type Work struct {
	done, failed, retried prometheus.Counter
	duration              prometheus.Histogram
	inFlight              prometheus.Gauge
}

// Work adds the chunk metrics to r. depth, if not nil, is called at scrape
// time for the chunks waiting on the queue (farpipe_queue_depth_chunks);
// it returns false when it cannot tell.
func (r *Registry) Work(depth func() (float64, bool)) *Work {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	}
	w := &Work{
		done:    counter("chunks_done_total", "Chunks whose command succeeded."),
		failed:  counter("chunks_failed_total", "Chunks whose command failed (after any retries), or that could not run."),
		retried: counter("chunks_retried_total", "Runs of a chunk again: after a failed command (--retries), a failed exec server, or a chunk given back to the queue."),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "chunk_duration_seconds",
			Help:    "How long a chunk took, from its start to its end, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10), // 5 ms to about 22 min
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "chunks_in_flight", Help: "Chunks running now."}),
	}
	r.reg.MustRegister(w.done, w.failed, w.retried, w.duration, w.inFlight)
	if depth != nil {
		r.reg.MustRegister(&gaugeFunc{desc: prometheus.NewDesc(namespace+"_queue_depth_chunks",
			"Chunks waiting on the work queue, taken by no worker yet.", nil, nil), f: depth})
	}
	return w
}

// Outcome is how a chunk's run ended.
type Outcome int

const (
	Done      Outcome = iota // its command succeeded
	Failed                   // its command failed, or it could not run
	Abandoned                // stopped (interrupted, given back): neither done nor failed, no duration
)

// Start counts a chunk that starts; call the function it returns once,
// when it ends.
func (w *Work) Start() (end func(Outcome)) {
	if w == nil {
		return func(Outcome) {}
	}
	begin := time.Now()
	w.inFlight.Inc()
	return func(o Outcome) {
		w.inFlight.Dec()
		switch o {
		case Done:
			w.done.Inc()
		case Failed:
			w.failed.Inc()
		default:
			return
		}
		w.duration.Observe(time.Since(begin).Seconds())
	}
}

// Retried counts a chunk that runs again.
func (w *Work) Retried() {
	if w != nil {
		w.retried.Inc()
	}
}

// gaugeFunc is a gauge read at scrape time that may have no value.
type gaugeFunc struct {
	desc *prometheus.Desc
	f    func() (float64, bool)
}

func (g *gaugeFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	if v, ok := g.f(); ok {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v)
	}
}
