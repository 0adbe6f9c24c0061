// Package kafka is the Kafka driver of package broker: streams of records
// (farpipe pub and sub) at kafka://BROKER[:PORT][,BROKER...]/TOPIC and
// kafka+tls://..., with a login as kafka://USER:PASS@BROKER/TOPIC (SASL
// PLAIN). Importing it registers the schemes.
//
// A stream is a topic of one partition: one order that every subscriber
// sees, and positions that are offsets + 1. A publisher's messages are
// records keyed with its id, produced by an idempotent producer of its own
// (acks from all in-sync replicas), so that a message the client sends
// again within a run is stored once and in order. Last reads the topic
// backwards from its end to the publisher's last record. Kafka cannot
// remove single records: Truncate notes the publisher's messages stored
// after the given position, and Publish confirms them again, unsent, when
// the publishing window sends them again. Kafka has no conditional append:
// two publishers running at once under one id are not detected.
//
// A durable subscriber is a consumer group that keeps its place by simple
// offset commits (no group membership): the committed offset is the
// first message not yet acknowledged, committed synchronously when a
// message is acknowledged, which Sub does after writing its records out.
//
// Work queues (worker, map --via kafka://BROKER/QUEUE) are a topic QUEUE of
// items served by the share group farpipe-workers-QUEUE (KIP-932: Kafka
// 4.2 or later), and a results topic per run: see queue.go.
//
// See docs/streams.md (Kafka) and docs/workers.md (On Kafka) for the
// settings and what differs from NATS.
package kafka
