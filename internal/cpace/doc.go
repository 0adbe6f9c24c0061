// Package cpace implements the CPace balanced PAKE of the IRTF draft
// draft-irtf-cfrg-cpace (cipher suite CPACE-RISTR255-SHA512: the group
// ristretto255 of RFC 9496 and SHA-512), in the initiator-responder setting,
// plus the explicit key confirmation the draft recommends.
//
// Two parties that share a low-entropy password derive a strong shared key.
// Someone who sees (or relays) every message learns nothing that lets them
// test a password guess offline; an active attacker who takes part in a run
// tests exactly one guess.
//
// # The exchange
//
// A (the initiator) calls Start and sends msgA; B calls Respond, which checks
// msgA and returns msgB and B's key; A calls Finish(msgB) for the same key.
// Both keys are the draft's intermediate session key ISK (64 bytes): equal
// if and only if both sides used the same password, the same ContextInfo
// (CI and sid) and saw the same two messages. Callers derive their working
// keys from it with a KDF (HKDF) and must not use it directly.
//
// Key confirmation (the draft's "Key confirmation" section): Tag computes
// HMAC-SHA-512 over a party's own message with
// mac_key = SHA-512("CPaceMac" || sid || ISK). B sends Tag(key, sid, msgB)
// with msgB; A checks it with VerifyTag and answers Tag(key, sid, msgA).
//
// # Encodings
//
// A message is lv_cat(Y, AD): the public share Y (the 32-byte ristretto255
// encoding) and the sender's associated data AD (at most MaxAD bytes), each
// prefixed with its LEB128 length, exactly the string the draft's transcript
// hashes. DecodeMessage is strict: minimal length encodings, a 32-byte Y
// that decodes to a group element other than the identity, nothing after AD.
//
// The generator is element_derivation(SHA-512(generator_string(DSI, PRS,
// CI, sid, 128))) with DSI "CPaceRistretto255"; ISK is
// SHA-512(lv_cat("CPaceRistretto255_ISK", sid, K) || lv_cat(Ya, ADa) ||
// lv_cat(Yb, ADb)). Scalars are 32 random bytes with the bits above 252
// cleared, as the draft recommends. The draft's ristretto255 test vectors
// are in cpace_test.go.
//
// Nothing in this package panics on a message from the network: every
// failure is an error matching ErrInvalidMessage or ErrIdentity.
package cpace
