package session

import (
	"testing"

	"github.com/farpipe/farpipe/wire"
)

// TestCompressNegotiation: the listener's explicit choice wins; without
// one, the dialer's wish is followed; both sides agree.
func TestCompressNegotiation(t *testing.T) {
	none, zstd := wire.CompressNone, wire.CompressZstd
	tests := []struct {
		name           string
		dialer         wire.Compression
		listener       wire.Compression
		listenerInsist bool
		want           wire.Compression
	}{
		{"neither asks", none, none, false, none},
		{"dialer asks", zstd, none, false, zstd},
		{"listener insists", none, zstd, true, zstd},
		{"listener refuses", zstd, none, true, none},
		{"both ask", zstd, zstd, true, zstd},
		{"listener wish without insisting", none, zstd, false, none},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := DefaultConfig(), DefaultConfig()
			cc.Compress = tc.dialer
			sc.Compress, sc.CompressFirm = tc.listener, tc.listenerInsist
			c, s := pairWith(t, cc, sc)
			if c.Compression() != tc.want || s.Compression() != tc.want {
				t.Fatalf("dialer uses %v, listener %v; want %v", c.Compression(), s.Compression(), tc.want)
			}
		})
	}
}

// TestCompressChoose covers what a peer may send: an older dialer offers
// nothing, a newer one may offer compressions this side does not know.
func TestCompressChoose(t *testing.T) {
	firm := &Config{Compress: wire.CompressZstd, CompressFirm: true}
	loose := &Config{}
	tests := []struct {
		cfg   *Config
		offer []wire.Compression
		want  wire.Compression
	}{
		{firm, nil, wire.CompressNone},
		{loose, nil, wire.CompressNone},
		{loose, []wire.Compression{77, wire.CompressZstd}, wire.CompressZstd},
		{loose, []wire.Compression{77}, wire.CompressNone},
		{firm, []wire.Compression{77, wire.CompressNone}, wire.CompressNone},
	}
	for _, tc := range tests {
		if got := tc.cfg.choose(tc.offer); got != tc.want {
			t.Errorf("firm=%v offer %v: chose %v, want %v", tc.cfg.CompressFirm, tc.offer, got, tc.want)
		}
	}
	if o := (&Config{Compress: wire.CompressZstd}).offer(); len(o) != 2 || o[0] != wire.CompressZstd {
		t.Errorf("offer of a dialer that wants zstd: %v", o)
	}
}
