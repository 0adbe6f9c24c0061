// Package relay runs farpipe's relay: an embedded NATS server
// (github.com/nats-io/nats-server/v2) in this process, with JetStream
// enabled, an optional WebSocket listener, optional routes to other relays
// (a NATS cluster) and NATS's own client authentication (a token or a user
// and password).
//
// A relay is where pipes whose two ends both dial out meet: each end
// connects to it as a NATS client, and the session between them runs end to
// end over NATS subjects, so the relay forwards only ciphertext. Nothing in
// farpipe's pipes depends on the relay being this one: any NATS server or
// cluster serves as well. The durable streams and work queues of pub, sub
// and worker use the same server's JetStream.
//
// One line starts a relay, in a test or in a program:
//
//	srv, err := relay.Start(ctx, relay.Config{Listen: "127.0.0.1:0", StoreDir: dir})
//	...
//	defer srv.Shutdown(context.Background())
//	nc, err := nats.Connect(srv.ClientURL())
//
// Start returns once the server accepts connections on every listener it
// was given; Shutdown stops it gracefully (JetStream flushes its store) and
// waits until it has stopped and released its store. The goroutines this
// package starts (one waits for the server to stop, one runs its shutdown;
// with Config.HTTP, one samples the server's monitoring each second and one
// serves the page) end before Shutdown returns.
//
// With Config.HTTP the relay serves a live page of its pipes, streams and
// queues (dash.go: the Snapshot a tracker makes from the server's Connz and
// Jsz; dashhttp.go: the page, its server-sent events and its login rule;
// docs/relay.md, "The live page").
//
// Errors are one line starting "farpipe:"; those caused by the Config
// (a malformed address or route, contradictory options) match ErrBadConfig
// with errors.Is, a store that another relay runs on matches ErrStoreInUse,
// and a listener that cannot be opened wraps the error of the operating
// system (errors.Is(err, syscall.EADDRINUSE)).
package relay
