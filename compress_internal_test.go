package farpipe

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
)

// TestLooksCompressible: the entropy test that ends a raw span tells
// random and already compressed data from text, zeros and base64, on
// blocks of the sizes reads give.
func TestLooksCompressible(t *testing.T) {
	random := make([]byte, 128<<10)
	rand.Read(random)
	var text bytes.Buffer
	for i := 0; text.Len() < 128<<10; i++ {
		fmt.Fprintf(&text, "2026-11-30T07:%02d:%02d INFO GET /items/%d status=200\n", i/60%60, i%60, i*7%1009)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(text.Bytes())
	w.Write(random)
	w.Close()
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"random 128 KiB", random, false},
		{"random 64 KiB", random[:64<<10], false},
		{"random 1 KiB", random[:1024], false},
		{"random 3 KiB + 1", random[:3073], false},
		{"gzip", gz.Bytes()[gz.Len()-64<<10:], false},
		{"too short to tell", text.Bytes()[:1023], false},
		{"text 128 KiB", text.Bytes(), true},
		{"text 1 KiB", text.Bytes()[:1024], true},
		{"zeros", make([]byte, 128<<10), true},
		{"base64", []byte(base64.StdEncoding.EncodeToString(random)), true},
	}
	for _, tc := range tests {
		if got := looksCompressible(tc.b); got != tc.want {
			t.Errorf("%s: looksCompressible = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func BenchmarkLooksCompressible(b *testing.B) {
	random := make([]byte, 128<<10)
	rand.Read(random)
	b.SetBytes(int64(len(random)))
	for b.Loop() {
		looksCompressible(random)
	}
}
