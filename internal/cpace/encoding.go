package cpace

import "fmt"

// prependLen appends the LEB128 encoding of len(b), then b, to dst: the
// draft's prepend_len.
func prependLen(dst, b []byte) []byte {
	n := len(b)
	for n >= 0x80 {
		dst = append(dst, byte(n&0x7f)|0x80)
		n >>= 7
	}
	dst = append(dst, byte(n))
	return append(dst, b...)
}

// lenLV is len(prepend_len(b)) for len(b) == n.
func lenLV(n int) int {
	l := 1
	for m := n; m >= 0x80; m >>= 7 {
		l++
	}
	return l + n
}

// lvCat is the draft's lv_cat: each argument with its length prepended.
func lvCat(parts ...[]byte) []byte {
	size := 0
	for _, p := range parts {
		size += 3 + len(p)
	}
	out := make([]byte, 0, size)
	for _, p := range parts {
		out = prependLen(out, p)
	}
	return out
}

// readLV reads one prepend_len field of at most limit bytes from b and
// returns it and what follows. The length must be minimally encoded.
func readLV(b []byte, limit int) (field, rest []byte, err error) {
	n, shift := 0, 0
	for i := 0; ; i++ {
		if i >= len(b) {
			return nil, nil, fmt.Errorf("%w: truncated length", ErrInvalidMessage)
		}
		if i >= 3 {
			return nil, nil, fmt.Errorf("%w: length field too long", ErrInvalidMessage)
		}
		c := b[i]
		n |= int(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return nil, nil, fmt.Errorf("%w: length not minimally encoded", ErrInvalidMessage)
			}
			b = b[i+1:]
			break
		}
	}
	if n > limit {
		return nil, nil, fmt.Errorf("%w: a field of %d bytes, at most %d", ErrInvalidMessage, n, limit)
	}
	if n > len(b) {
		return nil, nil, fmt.Errorf("%w: a field of %d bytes with %d left", ErrInvalidMessage, n, len(b))
	}
	return b[:n], b[n:], nil
}
