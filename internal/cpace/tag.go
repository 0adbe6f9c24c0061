package cpace

import (
	"crypto/hmac"
	"crypto/sha512"
)

// TagSize is the size of a key confirmation tag.
const TagSize = sha512.Size

// Tag returns the key confirmation tag of a party for its own message msg
// (msgA for the initiator, msgB for the responder), as the draft's "Key
// confirmation" section suggests: HMAC-SHA-512 keyed with
// mac_key = SHA-512("CPaceMac" || sid || key).
func Tag(key, sid, msg []byte) []byte {
	h := sha512.New()
	h.Write([]byte("CPaceMac"))
	h.Write(sid)
	h.Write(key)
	m := hmac.New(sha512.New, h.Sum(nil))
	m.Write(msg)
	return m.Sum(nil)
}

// VerifyTag reports, in constant time, whether tag is the peer's tag for
// its message msg under key and sid.
func VerifyTag(key, sid, msg, tag []byte) bool {
	return hmac.Equal(Tag(key, sid, msg), tag)
}
