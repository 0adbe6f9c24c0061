package wire

import "fmt"

// Auth is the payload of an AUTH frame: the method chosen and the proof.
type Auth struct {
	Method AuthMethod
	Proof  []byte
}

// MarshalBinary encodes a as an AUTH payload.
func (a *Auth) MarshalBinary() ([]byte, error) {
	if 1+len(a.Proof) > MaxAuth {
		return nil, fmt.Errorf("%w: auth proof of %d bytes", ErrTooLarge, len(a.Proof))
	}
	return append([]byte{byte(a.Method)}, a.Proof...), nil
}

// UnmarshalBinary decodes an AUTH payload. Proof is a copy.
func (a *Auth) UnmarshalBinary(b []byte) error {
	if len(b) < 1 || len(b) > MaxAuth {
		return fmt.Errorf("%w: auth payload of %d bytes", ErrMalformed, len(b))
	}
	a.Method = AuthMethod(b[0])
	a.Proof = append([]byte(nil), b[1:]...)
	return nil
}
