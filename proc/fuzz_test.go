package proc

import (
	"bytes"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// FuzzReadLines feeds the control-channel decoder hostile bytes: it must
// not panic, must report only well-formed messages (a verb and a number
// from 0 to 255, from a line of at most maxLine bytes), and must decode
// every well-formed line that is the input's own.
func FuzzReadLines(f *testing.F) {
	for _, seed := range []string{
		"signal 2\n", "exit 5\nkilled 9\n", "signal 2", "signal -1\n", "signal 256\n",
		"exit 0\r\n", strings.Repeat("x", 300) + "\nexit 3\n", "\x00\xff\n", "exit  7\n",
		" exit 7 \n", "exit 07\n", "exit +7\n", "signal 2\nsignal 15\nsignal 1\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []string
		err := readLines(bytes.NewReader(data), func(verb string, n int) {
			if n < 0 || n > 255 || len(verb) > maxLine || strings.ContainsAny(verb, " \n") {
				t.Fatalf("decoded verb %q, number %d from %q", verb, n, data)
			}
			got = append(got, verb+" "+strconv.Itoa(n))
		})
		if err != nil {
			t.Fatalf("readLines(%q): %v", data, err)
		}
		// A line "exit N" standing alone, short and complete, is decoded.
		want := 0
		for i, line := range bytes.Split(data, []byte("\n")) {
			if i == bytes.Count(data, []byte("\n")) {
				break // no newline: not a complete line
			}
			if m := strings.TrimPrefix(string(line), "exit "); m != string(line) {
				if n, err := strconv.Atoi(m); err == nil && n >= 0 && n < 256 && len(line) < maxLine {
					want++
				}
			}
		}
		exits := 0
		for _, g := range got {
			if strings.HasPrefix(g, "exit ") {
				exits++
			}
		}
		if exits < want {
			t.Fatalf("%q: decoded %q, missing some of the %d exit lines", data, got, want)
		}
	})
}

// endless is a line that never ends.
type endless struct{ left int }

func (e *endless) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n := min(len(p), e.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	e.left -= n
	return n, nil
}

// TestReadLinesBoundedMemory: a line without a newline that goes on and
// on (here 32 MiB) is skipped in constant memory.
func TestReadLinesBoundedMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	called := false
	err := readLines(io.MultiReader(&endless{left: 32 << 20}, strings.NewReader("\nexit 4\n")), func(verb string, n int) {
		called = verb == "exit" && n == 4
	})
	runtime.ReadMemStats(&after)
	if err != nil || !called {
		t.Fatalf("readLines: %v; the line after the overlong one decoded: %v", err, called)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("skipping a 32 MiB line allocated %d bytes", grew)
	}
}
