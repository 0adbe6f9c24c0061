package metrics

import (
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
)

// NATS adds the numbers of a relay's embedded NATS server to r, read from
// its Varz and Jsz when Prometheus scrapes (farpipe_relay_*).
func (r *Registry) NATS(ns *server.Server) {
	r.reg.MustRegister(newNATSCollector(ns))
}

type natsMetric struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	v    func(*server.Varz, *server.JSInfo) (float64, bool)
}

type natsCollector struct {
	ns      *server.Server
	metrics []natsMetric
}

func newNATSCollector(ns *server.Server) *natsCollector {
	c := &natsCollector{ns: ns}
	varz := func(name, help string, kind prometheus.ValueType, f func(*server.Varz) float64) {
		c.metrics = append(c.metrics, natsMetric{prometheus.NewDesc(namespace+"_relay_"+name, help, nil, nil), kind,
			func(v *server.Varz, _ *server.JSInfo) (float64, bool) {
				if v == nil {
					return 0, false
				}
				return f(v), true
			}})
	}
	jsz := func(name, help string, f func(*server.JSInfo) float64) {
		c.metrics = append(c.metrics, natsMetric{prometheus.NewDesc(namespace+"_relay_jetstream_"+name, help, nil, nil), prometheus.GaugeValue,
			func(_ *server.Varz, j *server.JSInfo) (float64, bool) {
				if j == nil {
					return 0, false
				}
				return f(j), true
			}})
	}
	counter, gauge := prometheus.CounterValue, prometheus.GaugeValue
	varz("connections", "Client connections open now (pipe ends, pub, sub, workers).", gauge, func(v *server.Varz) float64 { return float64(v.Connections) })
	varz("connections_total", "Client connections the relay has taken since it started.", counter, func(v *server.Varz) float64 { return float64(v.TotalConnections) })
	varz("routes", "Routes to other relays of the cluster connected now.", gauge, func(v *server.Varz) float64 { return float64(v.Routes) })
	varz("subscriptions", "NATS subscriptions now.", gauge, func(v *server.Varz) float64 { return float64(v.Subscriptions) })
	varz("in_messages_total", "Messages the relay received (clients and routes).", counter, func(v *server.Varz) float64 { return float64(v.InMsgs) })
	varz("out_messages_total", "Messages the relay sent (clients and routes).", counter, func(v *server.Varz) float64 { return float64(v.OutMsgs) })
	varz("in_bytes_total", "Payload bytes the relay received.", counter, func(v *server.Varz) float64 { return float64(v.InBytes) })
	varz("out_bytes_total", "Payload bytes the relay sent.", counter, func(v *server.Varz) float64 { return float64(v.OutBytes) })
	varz("slow_consumers_total", "Clients disconnected for reading too slowly.", counter, func(v *server.Varz) float64 { return float64(v.SlowConsumers) })
	jsz("streams", "JetStream streams and work queues.", func(j *server.JSInfo) float64 { return float64(j.Streams) })
	jsz("consumers", "JetStream consumers (durable subscribers, queue readers).", func(j *server.JSInfo) float64 { return float64(j.Consumers) })
	jsz("messages", "Messages stored in JetStream.", func(j *server.JSInfo) float64 { return float64(j.Messages) })
	jsz("stored_bytes", "Bytes of the messages stored in JetStream.", func(j *server.JSInfo) float64 { return float64(j.Bytes) })
	jsz("memory_bytes", "Memory JetStream uses for memory-backed streams.", func(j *server.JSInfo) float64 { return float64(j.Memory) })
	jsz("storage_bytes", "Disk JetStream uses for file-backed streams.", func(j *server.JSInfo) float64 { return float64(j.Store) })
	return c
}

// Describe implements prometheus.Collector.
func (c *natsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector. A part the server cannot give
// (JetStream off, the server stopping) is left out.
func (c *natsCollector) Collect(ch chan<- prometheus.Metric) {
	v, err := c.ns.Varz(nil)
	if err != nil {
		v = nil
	}
	j, err := c.ns.Jsz(nil)
	if err != nil || (j != nil && j.Disabled) {
		j = nil
	}
	for _, m := range c.metrics {
		if x, ok := m.v(v, j); ok {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, x)
		}
	}
}
