package testflags

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

func TestRaiseParallel(t *testing.T) {
	f := flag.Lookup("test.parallel")
	if f == nil {
		t.Fatal("no -test.parallel flag")
	}
	old := f.Value.String()
	t.Cleanup(func() { flag.Set("test.parallel", old) })
	// go test passes -test.parallel only when the command line has it.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	RaiseParallel(3)
	want := strconv.Itoa(3 * runtime.GOMAXPROCS(0))
	if explicit {
		want = old
	}
	if got := f.Value.String(); got != want {
		t.Errorf("-test.parallel is %s after RaiseParallel(3), want %s (set on the command line: %v)", got, want, explicit)
	}
}

// TestNoRaceExitSleep: children get atexit_sleep_ms=0 added to the
// options they inherit, and a GORACE that sets it is left alone.
func TestNoRaceExitSleep(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"", "atexit_sleep_ms=0"},
		{"halt_on_error=1", "halt_on_error=1 atexit_sleep_ms=0"},
		{"atexit_sleep_ms=500", "atexit_sleep_ms=500"},
	} {
		t.Setenv("GORACE", tc.env)
		NoRaceExitSleep()
		if got := os.Getenv("GORACE"); got != tc.want {
			t.Errorf("GORACE=%q: %q after NoRaceExitSleep, want %q", tc.env, got, tc.want)
		}
	}
}
