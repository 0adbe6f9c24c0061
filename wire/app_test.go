package wire

import (
	"bytes"
	"errors"
	"testing"
)

// TestHelloApp: the application role survives a round trip, is optional
// (absent when empty), and a malformed one is rejected both ways.
func TestHelloApp(t *testing.T) {
	base := Hello{Role: RoleDialer, Auth: []AuthMethod{AuthToken}}
	for _, app := range []string{"", "send", "connect", "x", "abcdefghijklmnopqrstuvwxyz012345"} {
		h := base
		h.App = app
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("%q: %v", app, err)
		}
		if app == "" && bytes.Contains(b, []byte{tagApp, 0}) {
			t.Errorf("an empty role was encoded: % x", b)
		}
		var got Hello
		if err := got.UnmarshalBinary(b); err != nil || got.App != app {
			t.Errorf("%q: decoded %q, %v", app, got.App, err)
		}
	}
	for _, app := range []string{"has space", "tab\t", "é", string(make([]byte, MaxAppRole+1))} {
		h := base
		h.App = app
		if _, err := h.MarshalBinary(); !errors.Is(err, ErrMalformed) {
			t.Errorf("MarshalBinary with role %q: %v, want ErrMalformed", app, err)
		}
	}
	for _, v := range [][]byte{{}, []byte("a b"), bytes.Repeat([]byte("a"), MaxAppRole+1)} {
		b, _ := base.MarshalBinary()
		b = appendTLV(b, tagApp, v)
		var h Hello
		if err := h.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("UnmarshalBinary with role %q: %v, want ErrMalformed", v, err)
		}
	}
}
