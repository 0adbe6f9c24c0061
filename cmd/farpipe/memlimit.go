package main

import (
	"os"
	"runtime/debug"
)

// streamMemoryLimit is the soft memory limit of sub and map --via through
// a queue (GOMEMLIMIT, when set, wins; "off" included). Every byte they
// move arrives in a message the broker client allocates, so the heap
// churns at the stream's rate; without a limit the garbage collector lets
// it grow to twice what is live and returns freed memory late, and the
// two peaked at 58–71 MiB for 10–25 MiB live (docs/performance.md). With
// it they stay near 50 MiB at the same speed; a larger live heap (a huge
// record being joined) only makes the collector work harder.
const streamMemoryLimit = 32 << 20

// softMemoryLimit sets the Go runtime's soft memory limit to n bytes
// unless GOMEMLIMIT is set.
func softMemoryLimit(n int64) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(n)
	}
}
