// Package nats is the broker driver for NATS JetStream: streams of records
// on a farpipe relay, a NATS server or a NATS cluster. It registers the
// schemes of the relay transport (nats, nats+tls, nats+ws, nats+wss):
//
//	import _ "github.com/farpipe/farpipe/broker/nats"
//
//	s, err := broker.Open(ctx, "nats://relay.example:4222/logs", broker.StreamConfig{Replicas: 3})
//
// # Addresses
//
//	nats://[USER:PASSWORD@ | TOKEN@]HOST[:PORT][,HOST[:PORT]...]/STREAM[?creds=FILE&ca=FILE&cert=FILE&key=FILE]
//
// as the relay transport's, with the stream's name in place of the pipe's.
// The process shares one NATS connection per relay with the transport.
//
// # How a stream maps onto JetStream
//
// A stream STREAM is the JetStream stream of that name, with the subjects
// farpipe.stream.STREAM.* : a publisher ID publishes to
// farpipe.stream.STREAM.ID, each message with the id ID-REC-OFF (its first
// record, and the offset of a piece), so that JetStream stores a message
// sent again once (within DuplicateWindow). Open creates the stream when it
// does not exist: file storage, limits retention, discard new (a full stream
// refuses messages: publishers get broker.ErrFull, nothing stored is
// dropped), the replicas and limits of broker.StreamConfig.
//
// A subscriber reads a pull consumer with explicit acknowledgements and
// at most SubConfig.MaxPending messages unacknowledged: durable under its
// name, or ephemeral (removed EphemeralTimeout after its subscriber left).
// A durable consumer that an earlier subscriber left with unacknowledged
// messages is reset to its acknowledgement floor when that delivers nothing
// twice (JetStream 2.12 and later), so that a restarted subscriber goes on
// at once where the last one stopped writing.
package nats
