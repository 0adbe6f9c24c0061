package main

import (
	"runtime/debug"
	"testing"
)

// TestSoftMemoryLimit checks that sub's and map --via's memory limit is
// set, and that GOMEMLIMIT wins over it.
func TestSoftMemoryLimit(t *testing.T) {
	was := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(was)
	for _, tc := range []struct {
		env  string
		want int64
	}{
		{"", streamMemoryLimit},
		{"off", was},
		{"100MiB", was},
	} {
		debug.SetMemoryLimit(was)
		t.Setenv("GOMEMLIMIT", tc.env)
		softMemoryLimit(streamMemoryLimit)
		if got := debug.SetMemoryLimit(-1); got != tc.want {
			t.Errorf("GOMEMLIMIT=%q: limit %d, want %d", tc.env, got, tc.want)
		}
	}
}
