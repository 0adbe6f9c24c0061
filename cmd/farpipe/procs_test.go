package main

import (
	"os"
	"runtime"
	"testing"
)

func TestByteStream(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:7000", true},
		{"[::1]:7000", true},
		{":7000", true},
		{"tcp://10.0.0.2:7000", true},
		{"TCP://10.0.0.2:7000", true},
		{"fp://10.0.0.2:7000/#k3ZT6v", true},
		{"unix:///run/fp.sock", true},
		{"unix:///run/fp.sock#k3ZT6v", true},
		{"ws://proxy/fp", false},
		{"wss://proxy/fp", false},
		{"quic://10.0.0.2:7000", false},
		{"grpc://10.0.0.2:7000", false},
		{"shm://backup", false},
		{"nats://relay/backup", false},
		{"7-apple-river", false}, // a short code: a relay's address
		{"", false},              // a code to make
	}
	for _, tt := range tests {
		if got := byteStream(tt.addr); got != tt.want {
			t.Errorf("byteStream(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// TestOneThread: GOMAXPROCS set by the user wins; otherwise send and recv
// over TCP run on one P.
func TestOneThread(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(2)

	t.Setenv("GOMAXPROCS", "2")
	oneThread("127.0.0.1:7000")
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Errorf("with GOMAXPROCS=2 in the environment: %d Ps, want 2", n)
	}

	os.Unsetenv("GOMAXPROCS") // t.Setenv restores it
	oneThread("quic://127.0.0.1:7000")
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Errorf("over QUIC: %d Ps, want 2", n)
	}
	oneThread("127.0.0.1:7000")
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("over TCP: %d Ps, want 1", n)
	}
}
