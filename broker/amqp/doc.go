// Package amqp is the broker driver for RabbitMQ (AMQP 0.9.1, through
// github.com/rabbitmq/amqp091-go): streams of records in RabbitMQ stream
// queues, and work queues (broker.Queue) in quorum queues, described in
// queue.go and docs/workers.md. It registers the schemes amqp and amqps:
//
//	import _ "github.com/farpipe/farpipe/broker/amqp"
//
//	s, err := broker.Open(ctx, "amqp://user:pass@rabbit.example/logs", broker.StreamConfig{})
//
// # Addresses
//
//	amqp[s]://[USER:PASS@]HOST[:PORT][/VHOST]/QUEUE[?heartbeat=...&connection_timeout=...]
//
// The last path segment is the queue (letters, digits, '-' and '_'); what
// is before it is amqp091's URI: the vhost URL-escaped (%2F for '/'), "/"
// when there is none. The login defaults to guest:guest.
//
// # How a stream maps onto RabbitMQ
//
// A stream QUEUE is a durable stream queue of that name (x-queue-type
// stream, RabbitMQ 3.9 and later): an append-only log that every
// subscriber reads at its own offset, so that --from start, SEQ and TIME,
// fan-out and re-reading all work. Open declares it (and its index,
// QUEUE.farpipe-pubs) when it does not exist: no size limit (a stream
// queue drops its oldest messages when over x-max-length-bytes, which would
// lose records silently, so StreamConfig.MaxBytes is refused), x-max-age
// from StreamConfig.MaxAge, x-initial-cluster-size from Replicas.
//
// Publishers send persistent messages with publisher confirms (mandatory:
// a message routed to no queue fails), at most 4096 unconfirmed, each with
// the header farpipe-pub (its publisher) and the message id ID-REC-OFF.
// Positions are offset+1. A lost connection fails the unconfirmed messages
// as broker.ErrTransient: broker.Pub waits (backoff 10 ms to 2 s), dials
// again, and sends them again in order, with the same message ids, for up
// to PubConfig.RetryFor. A stream queue cannot deduplicate or delete over
// AMQP 0.9.1, so a message whose confirmation was lost may be stored twice:
// subscribers skip the second copy, by the publisher's record index and
// piece offset, which only grow within a publisher.
//
// Publisher.Last: each run of a publisher stores "1 ID TOKEN START" in the
// index (START the stream's end when it began); a new run reads the index
// and then the stream from its ID's latest run on, to find its last
// message (an earlier run's when that run stored nothing).
//
// The end of a stream (for sub without --follow, and a run's START) is
// found by attaching a consumer at "next" and storing a mark, a message
// with the header farpipe-mark and no records, which subscribers skip.
//
// Subscribers consume with manual acknowledgements and a prefetch of
// SubConfig.MaxPending. A stream's acknowledgements only give credit, so
// they are sent when a message is taken; a durable subscriber NAME keeps
// its place itself, in the queue QUEUE.farpipe-sub.NAME (x-max-length 1:
// the latest state), stored after each message whose records were
// written (and confirmed at Close): the offset to go on from and each
// publisher's last record written (state.go). A lost connection is dialed
// again (backoff 50 ms to 2 s, for up to RetryFor), and reading goes on
// after the last message taken.
package amqp
