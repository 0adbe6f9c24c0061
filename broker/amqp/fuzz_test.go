package amqp

import (
	"bytes"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	for _, st := range []state{
		{floor: 0, marks: map[string]mark{}},
		{floor: 12345, marks: map[string]mark{"p1": {key{7, 0}, 3}, "web-2_x": {key{1 << 40, 99}, 1 << 50}}},
	} {
		got, err := decodeState(st.encode(nil))
		if err != nil || got.floor != st.floor || len(got.marks) != len(st.marks) {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", st, got, err)
		}
		for k, v := range st.marks {
			if got.marks[k] != v {
				t.Fatalf("mark %s: got %+v, want %+v", k, got.marks[k], v)
			}
		}
	}
	for _, bad := range [][]byte{nil, {2}, {1}, {1, 0, 1}, {1, 0, 1, 3, 'a', '.', 'b', 0, 0, 0}, append(state{floor: 1, marks: map[string]mark{}}.encode(nil), 0)} {
		if _, err := decodeState(bad); err == nil {
			t.Errorf("decodeState(%q) took a damaged state", bad)
		}
	}
}

func TestIndexEntry(t *testing.T) {
	for _, e := range []indexEntry{{kind: 1, id: "p", token: "ab12"}, {kind: 2, id: "web-1", token: "ff", start: 77}} {
		if got, ok := parseIndexEntry([]byte(e.String())); !ok || got != e {
			t.Errorf("parse(%q) = %+v, %v", e.String(), got, ok)
		}
	}
	for _, bad := range []string{"", "1 p", "3 p t", "2 p t", "2 p t -1", "1 p.q t", "2 p t 1 2"} {
		if _, ok := parseIndexEntry([]byte(bad)); ok {
			t.Errorf("parseIndexEntry(%q) took a bad entry", bad)
		}
	}
}

// FuzzState: a durable subscriber's state comes from the broker; decoding
// never panics, and what decodes encodes back to the same state.
func FuzzState(f *testing.F) {
	f.Add(state{floor: 5, marks: map[string]mark{"a": {key{1, 2}, 3}}}.encode(nil))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			return
		}
		again, err := decodeState(st.encode(nil))
		if err != nil || again.floor != st.floor || len(again.marks) != len(st.marks) {
			t.Fatalf("a decoded state does not survive encoding: %+v, %v", again, err)
		}
	})
}

// FuzzIndexEntry: the index's entries come from the broker; parsing never
// panics, and what parses prints back to an entry that parses the same.
func FuzzIndexEntry(f *testing.F) {
	f.Add([]byte("1 p tok"))
	f.Add([]byte("2 p tok 12"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := parseIndexEntry(b)
		if !ok {
			return
		}
		if again, ok := parseIndexEntry([]byte(e.String())); !ok || again != e || bytes.Contains([]byte(e.String()), []byte("\n")) {
			t.Fatalf("entry %+v does not print back: %+v", e, again)
		}
	})
}
