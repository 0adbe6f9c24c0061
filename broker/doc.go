// Package broker is durable streams of records through a message broker:
// many publishers into one stream (fan-in), any number of subscribers each
// at its own pace (fan-out), and subscribers that resume where they stopped.
//
// Three layers, as in gocloud.dev: the portable functions Pub and Sub that
// users call; a small driver interface (Driver, Stream, Publisher,
// Subscription) that moves messages and classifies errors; and one package
// per broker that registers itself by URL scheme:
//
//	import (
//		"github.com/farpipe/farpipe/broker"
//		_ "github.com/farpipe/farpipe/broker/nats" // nats://RELAY/STREAM: JetStream
//	)
//
//	s, err := broker.Open(ctx, "nats://127.0.0.1:4222/logs", broker.StreamConfig{})
//	...
//	defer s.Close()
//	stats, err := broker.Pub(ctx, s, os.Stdin, broker.PubConfig{ID: "web1"})
//	stats, err := broker.Sub(ctx, s, os.Stdout, broker.SubOptions{SubConfig: broker.SubConfig{Durable: "archive"}})
//
// Retries, packing and exactly-once writing live here, once; drivers stay
// small. broker/brokertest is the conformance suite every driver passes.
//
// # Records and messages
//
// Pub cuts its input into records with a flow.Splitter (lines by default)
// and packs whole records into messages of at most PubConfig.MaxMessage
// bytes (the layout is in pack.go: a version, flags, the index of the first
// record, then each record with its length). A longer record travels in
// pieces, one per message, that Sub joins before writing it. So records
// of different publishers never interleave, and each message names its
// publisher's record indexes.
//
// # Guarantees
//
// Pub returns nil only when every record is stored (confirmed by the
// broker, which for a replicated stream means a majority of its replicas).
// A message the broker did not confirm (a lost connection, a leader
// election) is sent again, in order, with the same id, and the broker
// stores it once. A publisher restarted with the same ID skips the records
// the stream holds from it already (PubConfig.ID), so that it duplicates
// nothing. A full stream refuses new messages (ErrFull): Pub fails and
// says from which record on nothing is sure to be stored; nothing stored
// is dropped to make room.
//
// Sub acknowledges a message only after its records were written to the
// output, and never writes a message delivered again (after a lost
// acknowledgement) twice. A durable subscriber (SubConfig.Durable) that
// stops resumes after the last message it acknowledged. On an output that
// cannot take back bytes one window stays: a subscriber killed (SIGKILL,
// power loss) after writing a message and before its acknowledgement
// reached the broker writes that message again when restarted. A SubFile
// (SubOptions.Checkpoint) closes it: the file's length and the messages
// written are saved beside it before each acknowledgement, and a restart
// cuts the file back and skips what was written. An interrupted Sub
// (context cancelled) acknowledges what it wrote before returning.
//
// Every function is context-first and every goroutine a Stream starts ends
// with its Close.
package broker
