// Package nats is the farpipe transport through a NATS server: a relay that
// both ends of a pipe dial out to. It registers the schemes "nats" (plain
// NATS, upgraded to TLS when the server requires it), "nats+tls" (TLS
// required), "nats+ws" and "nats+wss" (NATS over WebSocket, for networks
// that only let HTTP out).
//
//	import _ "github.com/farpipe/farpipe/transport/nats"
//
// # Addresses
//
//	nats://[USER:PASSWORD@ | TOKEN@]HOST[:PORT][,HOST[:PORT]...]/NAME[?creds=FILE&ca=FILE&cert=FILE&key=FILE]
//
// NAME is the pipe's name on the relay (letters, digits, '-' and '_', at
// most 64 bytes). The port defaults to 4222. Several servers of one cluster
// may be listed; the servers a cluster announces are used as well. creds is
// a NATS credentials file (JWT and seed); ca, cert and key are PEM files for
// TLS to the server.
//
// # How a pipe maps onto NATS
//
// "Listening" at a name means subscribing to the subject farpipe.pipe.NAME.
// A dialer sends a request there carrying the inbox it reads; the listener
// answers with the inbox it reads for this connection. An inbox is
// _INBOX.<unique>.fp.<d|l>.NAME (the dialing or the accepted end of a
// connection at NAME), so that a relay can show which pipe a subscription
// belongs to without reading its messages. From then on each end
// publishes to the other's inbox: connection messages with a kind, a
// sequence number and data. The session layer above runs TLS end to end over
// these bytes, so the relay sees only ciphertext and the subjects. The
// messages are specified in docs/protocol.md and docs/relay.md.
//
// # Failures
//
// Core NATS delivers at most once. A message that arrives out of turn (one
// was lost or reordered), a peer that exceeds its window, or the loss of the
// connection to the server breaks the connection: Read and Write fail as
// they would after a TCP reset, and the session resumes on a new connection,
// through any server of the cluster. The NATS connection itself reconnects
// every 100-200 ms while the relay is away.
package nats
