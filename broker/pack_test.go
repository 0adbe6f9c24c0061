package broker

import (
	"bytes"
	"errors"
	"testing"
)

func TestPackRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    Header
		recs []string
	}{
		{"whole records", Header{Rec: 7}, []string{"a\n", "bb\n", "c"}},
		{"first piece", Header{Rec: 1 << 40, More: true}, []string{"xxxx"}},
		{"middle piece", Header{Rec: 3, Off: 300, Cont: true, More: true}, []string{"y"}},
		{"last piece", Header{Rec: 3, Off: 301, Cont: true}, []string{"z\n"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendHeader(nil, tt.h)
			for _, r := range tt.recs {
				b = AppendRecord(b, []byte(r))
			}
			h, recs, err := Unpack(b, nil)
			if err != nil || h != tt.h || len(recs) != len(tt.recs) {
				t.Fatalf("Unpack = %+v, %q, %v; want %+v, %q", h, recs, err, tt.h, tt.recs)
			}
			for i := range recs {
				if string(recs[i]) != tt.recs[i] {
					t.Fatalf("record %d is %q, want %q", i, recs[i], tt.recs[i])
				}
			}
		})
	}
}

func TestUnpackMalformed(t *testing.T) {
	rec := func(h Header, recs ...string) []byte {
		b := AppendHeader(nil, h)
		for _, r := range recs {
			b = AppendRecord(b, []byte(r))
		}
		return b
	}
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 2", []byte{2, 0, 0, 0, 1, 'a'}},
		{"unknown flag", []byte{1, 4, 0, 0, 1, 'a'}},
		{"no record", rec(Header{})},
		{"truncated record", rec(Header{}, "abc")[:6]},
		{"zero-length record", []byte{1, 0, 0, 0, 0}},
		{"offset without cont", []byte{1, 0, 0, 5, 1, 'a'}},
		{"cont at offset 0", []byte{1, flagCont, 0, 0, 1, 'a'}},
		{"two records with a piece", rec(Header{More: true}, "a", "b")},
		{"bad varint", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"huge length", []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Unpack(tt.b, nil); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Unpack(%x) = %v, want ErrMalformed", tt.b, err)
			}
		})
	}
}

func TestStored(t *testing.T) {
	whole := AppendRecord(AppendRecord(AppendHeader(nil, Header{Rec: 10}), []byte("a\n")), []byte("b\n"))
	piece := AppendRecord(AppendHeader(nil, Header{Rec: 12, Off: 100, Cont: true, More: true}), []byte("xyz"))
	for _, tt := range []struct {
		name          string
		last          []byte
		recs, partial uint64
	}{
		{"none", nil, 0, 0},
		{"whole", whole, 12, 0},
		{"piece", piece, 12, 103},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, p, err := Stored(tt.last)
			if err != nil || r != tt.recs || p != tt.partial {
				t.Fatalf("Stored = %d, %d, %v; want %d, %d", r, p, err, tt.recs, tt.partial)
			}
		})
	}
}

// FuzzUnpack feeds Unpack bytes as they may come from the network: it must
// never panic, and what it accepts packs back to the same bytes.
func FuzzUnpack(f *testing.F) {
	f.Add(AppendRecord(AppendHeader(nil, Header{Rec: 1}), []byte("hello\n")))
	f.Add(AppendRecord(AppendHeader(nil, Header{Rec: 2, Off: 9, Cont: true, More: true}), []byte("piece")))
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{1, 3, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, recs, err := Unpack(b, nil)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		again := AppendHeader(nil, h)
		for _, r := range recs {
			if len(r) == 0 {
				t.Fatal("an empty record")
			}
			again = AppendRecord(again, r)
		}
		// Varints may have been written longer than needed: compare what
		// they mean.
		h2, recs2, err := Unpack(again, nil)
		if err != nil || h2 != h || len(recs2) != len(recs) {
			t.Fatalf("packing again gives %+v %d records (%v), want %+v %d", h2, len(recs2), err, h, len(recs))
		}
		for i := range recs {
			if !bytes.Equal(recs[i], recs2[i]) {
				t.Fatalf("record %d differs after packing again", i)
			}
		}
		if _, _, err := Stored(b); err != nil {
			t.Fatalf("Stored fails on a message Unpack accepts: %v", err)
		}
	})
}
