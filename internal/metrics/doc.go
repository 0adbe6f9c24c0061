// Package metrics defines farpipe's Prometheus metrics and serves them:
// the long-running commands (relay, exec, send/recv, merge, map, worker,
// pub, sub) take --metrics ADDR and wire the parts they have.
//
// A Registry is a registry of its own (never Prometheus's global one) with
// the Go and process collectors; the parts add their families:
//
//   - Pipes: the farpipe connections of a process (Track each Conn) and
//     its listeners' refusals (ListenerError), read from Conn's counters
//     when Prometheus scrapes, so the data path pays nothing;
//   - Work: chunks of map and worker (done, failed, retried, duration,
//     in flight, queue depth);
//   - Streams: records of pub and sub, and sub's lag behind its stream;
//   - NATS: the embedded server of a relay (Varz, Jsz), read at scrape time.
//
// No label takes an unbounded value: no connection ids, no addresses. Pub
// and sub label their metrics with the stream's name, one per process.
// Every metric is listed in docs/metrics.md.
//
// Serve serves a Registry at /metrics over HTTP; Server.Close stops it and
// waits for its goroutine.
package metrics
