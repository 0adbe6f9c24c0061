package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Stream counts what pub publishes to a stream or sub writes out from it;
// its metrics are labeled with the stream's name. Its methods are safe on
// a nil *Stream (no metrics) and for concurrent use.
type Stream struct {
	records, bytes, messages, again prometheus.Counter
	lag                             prometheus.Gauge
}

// Pub adds the metrics of a publisher to stream name.
func (r *Registry) Pub(name string) *Stream {
	l := prometheus.Labels{"stream": name}
	counter := func(n, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: "pub", Name: n, Help: help, ConstLabels: l})
	}
	s := &Stream{
		records:  counter("records_total", "Records stored in the stream (confirmed by its replicas)."),
		bytes:    counter("bytes_total", "Bytes of the records stored."),
		messages: counter("messages_total", "Messages stored (each holds whole records, or a piece of a long one)."),
	}
	r.reg.MustRegister(s.records, s.bytes, s.messages)
	return s
}

// Sub adds the metrics of a subscriber to stream name.
func (r *Registry) Sub(name string) *Stream {
	l := prometheus.Labels{"stream": name}
	counter := func(n, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: "sub", Name: n, Help: help, ConstLabels: l})
	}
	s := &Stream{
		records:  counter("records_total", "Records written out."),
		bytes:    counter("bytes_total", "Bytes of the records written out (labels not counted)."),
		messages: counter("messages_total", "Messages whose records were written out."),
		again:    counter("redelivered_messages_total", "Messages delivered again (a lost acknowledgement) and not written twice."),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "sub", Name: "lag_messages", ConstLabels: l,
			Help: "Messages of the stream after the last one delivered, not yet delivered to this subscriber."}),
	}
	r.reg.MustRegister(s.records, s.bytes, s.messages, s.again, s.lag)
	return s
}

// Add counts records, bytes and messages stored (pub) or written (sub).
func (s *Stream) Add(records, bytes, messages uint64) {
	if s == nil {
		return
	}
	s.records.Add(float64(records))
	s.bytes.Add(float64(bytes))
	s.messages.Add(float64(messages))
}

// Again counts messages delivered again (sub).
func (s *Stream) Again(n uint64) {
	if s != nil && s.again != nil {
		s.again.Add(float64(n))
	}
}

// Lag sets how many messages the subscriber has still to get (sub).
func (s *Stream) Lag(pending uint64) {
	if s != nil && s.lag != nil {
		s.lag.Set(float64(pending))
	}
}
