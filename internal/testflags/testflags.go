// Package testflags sets defaults for the test binaries of packages whose
// tests spend most of their time waiting: on deadlines, on other processes,
// on the network.
package testflags

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// RaiseParallel makes -test.parallel default to perCPU parallel tests per
// CPU instead of one, unless the command line sets it. Call it from
// TestMain before m.Run.
//
// The tests of a package that calls it wait on deadlines, timeouts, other
// processes and network round trips far more than they compute: with one
// test per CPU, two CPUs sit idle most of the time (go test -race of such a
// package used 0.8 CPU of 2). -test.parallel limits only the tests that
// call t.Parallel; the others still run alone.
func RaiseParallel(perCPU int) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) {
		set = set || f.Name == "test.parallel"
	})
	if !set {
		flag.Set("test.parallel", strconv.Itoa(perCPU*runtime.GOMAXPROCS(0)))
	}
}

// NoRaceExitSleep makes the processes the tests start, which inherit the
// environment, exit as soon as they are done when built with -race. The
// race detector otherwise sleeps one second in every process that exits
// (its atexit_sleep_ms option), so that other threads can finish reporting
// a race: a test that runs farpipe ten times in a row waited ten seconds
// for nothing. A GORACE that sets atexit_sleep_ms itself is kept. Call it
// from TestMain before m.Run; the test process itself has read GORACE
// already.
func NoRaceExitSleep() {
	v := os.Getenv("GORACE")
	if strings.Contains(v, "atexit_sleep_ms") {
		return
	}
	os.Setenv("GORACE", strings.TrimSpace(v+" atexit_sleep_ms=0"))
}
