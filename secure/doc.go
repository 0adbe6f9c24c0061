// Package secure makes farpipe connections encrypted and mutually
// authenticated with nothing to set up.
//
// By default a connection runs TLS 1.3 with an ephemeral self-signed
// certificate, which nobody verifies: instead both peers prove knowledge of
// a shared token with an HMAC bound to that very TLS session (its exported
// keying material) and to both handshake messages, nonces included. A man in
// the middle terminates two different TLS sessions, so it cannot relay a
// proof, and without the token it cannot make one; the token itself never
// crosses the wire. With NoEncrypt the same proof runs without TLS (bound to
// the nonces only): authenticated, not encrypted. With a certificate, key
// and CA, TLS is mutual and verified the usual way, and a token, if given,
// is checked on top.
package secure
