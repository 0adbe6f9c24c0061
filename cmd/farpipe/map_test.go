package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/testproc"

	"github.com/farpipe/farpipe/flow"
)

// A test helper command: with FARPIPE_MAP_HELPER set, the test binary run
// by map (FARPIPE_CHUNK set) is a command, not the tests nor farpipe.
func init() {
	if os.Getenv("FARPIPE_CHUNK") == "" {
		return
	}
	switch os.Getenv("FARPIPE_MAP_HELPER") {
	case "":
		return
	case "pieces":
		// Standard error: 50 lines, each written in three pieces; standard
		// input copied to standard output.
		id := os.Getenv("FARPIPE_CHUNK")
		for i := range 50 {
			fmt.Fprintf(os.Stderr, "chunk %s line %d: ", id, i)
			os.Stderr.WriteString(strings.Repeat("x", 100))
			os.Stderr.WriteString(" end\n")
		}
		io.Copy(os.Stdout, os.Stdin)
	}
	os.Exit(0)
}

// mapInput is n bytes of lowercase words in lines, with some '>', "END"
// and NUL bytes for the other splitters.
func mapInput(n int) []byte {
	r := rand.New(rand.NewPCG(7, 8))
	var b bytes.Buffer
	for b.Len() < n {
		for w := r.IntN(8); w >= 0; w-- {
			for l := r.IntN(9) + 1; l > 0; l-- {
				b.WriteByte(byte('a' + r.IntN(26)))
			}
			b.WriteByte(" >\x00,"[r.IntN(4)])
		}
		if r.IntN(5) == 0 {
			b.WriteString("END")
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// mapFilter is a command and what it does to one chunk, in Go.
type mapFilter struct {
	name string
	argv []string
	do   func([]byte) []byte
}

func lineFilter(f func(lines []string) []string) func([]byte) []byte {
	return func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		return []byte(strings.Join(f(lines), "\n") + "\n")
	}
}

var (
	sedFilter = mapFilter{"sed", []string{"sed", "s/a/A/g"}, func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("a"), []byte("A")) }}
	awkFilter = mapFilter{"awk", []string{"awk", "{print length($0)}"}, lineFilter(func(l []string) []string {
		out := make([]string, len(l))
		for i, s := range l {
			out[i] = strconv.Itoa(len(s))
		}
		return out
	})}
	sortFilter = mapFilter{"sort", []string{"sort"}, lineFilter(func(l []string) []string { slices.Sort(l); return l })}
)

// expected is the sequential run: the filter on every chunk, in order.
func expected(t *testing.T, in []byte, cfg flow.Config, f mapFilter) []byte {
	t.Helper()
	ck, err := flow.NewChunker(bytes.NewReader(in), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for {
		c, err := ck.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
		out.Write(f.do(append(append([]byte(nil), c.Header...), c.Data...)))
	}
}

// inputFile writes data to a file of the test's.
func inputFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// runMapCmd runs farpipe map with args, its input from a regular file or a
// pipe.
func runMapCmd(t *testing.T, in []byte, viaFile bool, args ...string) result {
	t.Helper()
	cmd := command(t, append([]string{"map"}, args...)...)
	cmd.Env = append(cmd.Env, "LC_ALL=C")
	if viaFile {
		return start(t, cmd, inputFile(t, in))()
	}
	return start(t, cmd, bytes.NewReader(in))()
}

func TestMapEqualsSequentialRun(t *testing.T) {
	t.Parallel()
	big, small := mapInput(2<<20), mapInput(3000)
	tests := []struct {
		name    string
		flags   []string
		cfg     flow.Config
		filters []mapFilter
	}{
		{"lines", nil, flow.Config{}, []mapFilter{sedFilter, awkFilter, sortFilter}},
		{"null", []string{"-0"}, flow.Config{Split: flow.Null()}, []mapFilter{sedFilter}},
		{"recend", []string{"--recend", `END\n`}, flow.Config{Split: flow.RecEnd("END\n")}, []mapFilter{sedFilter, awkFilter, sortFilter}},
		{"recstart", []string{"--recstart", ">"}, flow.Config{Split: flow.RecStart(">")}, []mapFilter{sedFilter}},
		{"records", []string{"--records", "7"}, flow.Config{Records: 7}, []mapFilter{sedFilter, awkFilter, sortFilter}},
		{"bytes", []string{"--bytes"}, flow.Config{Split: flow.Bytes{}}, []mapFilter{sedFilter}},
		{"header", []string{"--header", "1"}, flow.Config{Header: 1}, []mapFilter{sedFilter, awkFilter, sortFilter}},
	}
	for _, tt := range tests {
		for i, f := range tt.filters {
			for _, block := range []int{1, 997, 64 << 10, 1 << 20} {
				in := big
				if block < 1000 {
					in = small
				}
				cfg := tt.cfg
				cfg.Block = block
				flags := append(slices.Clone(tt.flags), "--block", strconv.Itoa(block), "-j", "3")
				switch {
				case cfg.Records > 0 && block >= 1000:
					cfg.Records = 5000
					flags = []string{"--records", "5000", "--block", strconv.Itoa(block), "-j", "3"}
				case tt.name == "bytes" && block == 1:
					in = small[:300]
				}
				want := expected(t, in, cfg, f)
				if tt.name == "lines" && f.name != "sort" && block == 1<<20 {
					// Independent of flow: line filters give what they give on
					// the whole input.
					whole := exec.Command(f.argv[0], f.argv[1:]...)
					whole.Stdin, whole.Env = bytes.NewReader(in), append(os.Environ(), "LC_ALL=C")
					if out, err := whole.Output(); err != nil || !bytes.Equal(out, want) {
						t.Fatalf("%s on the whole input: %v, or it differs from the reference", f.name, err)
					}
				}
				for _, viaFile := range []bool{false, true} {
					if viaFile && i > 0 {
						continue // a file as input splits alike whatever the filter: once per split is enough
					}
					name := fmt.Sprintf("%s/%s/block=%d/file=%v", tt.name, f.name, block, viaFile)
					t.Run(name, func(t *testing.T) {
						t.Parallel() // processes that wait on each other more than on the CPU
						r := runMapCmd(t, in, viaFile, append(append(flags, "--"), f.argv...)...)
						if r.code != 0 {
							t.Fatalf("exit %d: %s", r.code, r.stderr)
						}
						if !bytes.Equal(r.stdout, want) {
							t.Fatalf("output (%d bytes) differs from the sequential run (%d bytes)", len(r.stdout), len(want))
						}
					})
				}
			}
		}
	}
}

func TestMapEnv(t *testing.T) {
	in := []byte("a\nbb\nccc\ndddd\ne\n")
	for _, viaFile := range []bool{false, true} {
		r := runMapCmd(t, in, viaFile, "--records", "2", "-j", "2", "--", "sh", "-c", `echo "$FARPIPE_CHUNK $FARPIPE_OFFSET"`)
		if want := "0 0\n1 5\n2 14\n"; r.code != 0 || string(r.stdout) != want {
			t.Fatalf("file %v: exit %d, output %q, want %q (%s)", viaFile, r.code, r.stdout, want, r.stderr)
		}
	}
}

// failOn is a shell command that fails on the chunks listed, with a line
// on stderr, and copies the others.
func failOn(chunks string) []string {
	return []string{"sh", "-c", `case " ` + chunks + ` " in *" $FARPIPE_CHUNK "*) echo "first line" >&2; echo "no good: $FARPIPE_CHUNK" >&2; exit 3;; esac; cat`}
}

func TestMapFailure(t *testing.T) {
	in := []byte("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n")
	for _, viaFile := range []bool{false, true} {
		r := runMapCmd(t, in, viaFile, append([]string{"--records", "3", "-j", "1", "--"}, failOn("2")...)...)
		if r.code != exitMapFailed {
			t.Fatalf("exit %d, want %d: %s", r.code, exitMapFailed, r.stderr)
		}
		if string(r.stdout) != "1\n2\n3\n4\n5\n6\n" {
			t.Errorf("output %q, want the two chunks before the failed one", r.stdout)
		}
		last := strings.TrimSpace(r.stderr[strings.LastIndex(strings.TrimSpace(r.stderr), "\n")+1:])
		for _, want := range []string{"farpipe: map: chunk 2 (bytes 12-17) failed", "sh exited with status 3", `first record "7\n"`, `"no good: 2"`, `"first line"`} {
			if !strings.Contains(last, want) {
				t.Errorf("the message %q does not say %q", last, want)
			}
		}
		if !strings.Contains(r.stderr, "first line\nno good: 2\n") {
			t.Errorf("the command's stderr did not pass through: %q", r.stderr)
		}
	}
}

func TestMapRetries(t *testing.T) {
	in := []byte(strings.Repeat("line\n", 100))
	for _, tt := range []struct {
		retries string
		code    int
	}{{"0", exitMapFailed}, {"1", 0}} {
		dir := t.TempDir()
		// Fails the first time on each chunk.
		script := `f=` + dir + `/$FARPIPE_CHUNK; if [ ! -e $f ]; then : > $f; echo partial; exit 1; fi; cat`
		r := runMapCmd(t, in, false, "--records", "10", "-j", "3", "--retries", tt.retries, "--", "sh", "-c", script)
		if r.code != tt.code {
			t.Fatalf("--retries %s: exit %d, want %d: %s", tt.retries, r.code, tt.code, r.stderr)
		}
		if tt.code == 0 && !bytes.Equal(r.stdout, in) {
			t.Fatalf("--retries %s: the output is not the input alone: %q", tt.retries, r.stdout)
		}
	}
}

func TestMapKeepGoing(t *testing.T) {
	in := []byte("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n")
	r := runMapCmd(t, in, true, append([]string{"--records", "2", "-j", "2", "--keep-going", "--"}, failOn("1 3")...)...)
	if r.code != exitMapFailed {
		t.Fatalf("exit %d, want %d: %s", r.code, exitMapFailed, r.stderr)
	}
	if string(r.stdout) != "1\n2\n5\n6\n9\n10\n" {
		t.Errorf("output %q, want every chunk but 1 and 3", r.stdout)
	}
	for _, want := range []string{"chunk 1 (bytes 4-7) failed", "chunk 3 (bytes 12-15) failed", "farpipe: map: 2 of 5 chunks failed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q: %s", want, r.stderr)
		}
	}
}

func TestMapStderrWholeLines(t *testing.T) {
	in := mapInput(200 << 10)
	cmd := command(t, "map", "--block", "4k", "-j", "4", "--", os.Args[0])
	cmd.Env = append(cmd.Env, "FARPIPE_MAP_HELPER=pieces")
	r := start(t, cmd, bytes.NewReader(in))()
	if r.code != 0 || !bytes.Equal(r.stdout, in) {
		t.Fatalf("exit %d, %d bytes out of %d: %s", r.code, len(r.stdout), len(in), r.stderr)
	}
	line := regexp.MustCompile(`^chunk \d+ line \d+: x{100} end$`)
	n := 0
	for _, l := range strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n") {
		if !line.MatchString(l) {
			t.Fatalf("a mixed line on stderr: %q", l)
		}
		n++
	}
	if n < 50*10 {
		t.Fatalf("%d lines on stderr", n)
	}
}

// TestMapFileOffset: like cat, map leaves a regular file's offset at its
// end, and starts where the offset was.
func TestMapFileOffset(t *testing.T) {
	f := inputFile(t, []byte("skip\nkeep\n"))
	if _, err := f.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	r := start(t, command(t, "map", "--", "sh", "-c", `echo "$FARPIPE_OFFSET"; cat`), f)()
	if r.code != 0 || string(r.stdout) != "0\nkeep\n" {
		t.Fatalf("exit %d, output %q: %s", r.code, r.stdout, r.stderr)
	}
	if off, _ := f.Seek(0, io.SeekCurrent); off != 10 {
		t.Fatalf("offset %d after map, want 10", off)
	}
}

// TestMapSignal: SIGINT or SIGTERM reaches every command (and what they
// started), map exits 128+N, and no process is left behind.
func TestMapSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			// Each command starts a sleep and says both pids on stderr.
			cmd := command(t, "map", "--records", "1", "-j", "2", "--", "sh", "-c", `sleep 300 & echo "pids $$ $!" >&2; wait`)
			cmd.Stdin = strings.NewReader("a\nb\nc\nd\n")
			cmd.Stderr = pw
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			var pids []int
			buf := make([]byte, 0, 4096)
			for len(pids) < 4 {
				tmp := make([]byte, 512)
				n, err := pr.Read(tmp)
				if err != nil {
					t.Fatalf("stderr ended before both commands started: %q", buf)
				}
				buf = append(buf, tmp[:n]...)
				pids = pids[:0]
				for _, m := range regexp.MustCompile(`pids (\d+) (\d+)\n`).FindAllStringSubmatch(string(buf), -1) {
					for _, p := range m[1:] {
						id, _ := strconv.Atoi(p)
						pids = append(pids, id)
					}
				}
			}
			cmd.Process.Signal(sig)
			rest, _ := io.ReadAll(pr)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) {
				t.Fatalf("exit %d, want %d: %s%s", code, 128+int(sig), buf, rest)
			}
			for _, p := range pids {
				if !testproc.Gone(p, 10*time.Second) {
					t.Fatalf("process %d still runs after map exited", p)
				}
			}
		})
	}
}

// TestMapSIGPIPEDefault: the commands get SIGPIPE's default action, not
// farpipe's "ignored", so that "yes | head -1" inside them ends quietly.
func TestMapSIGPIPEDefault(t *testing.T) {
	r := runMapCmd(t, []byte("x\n"), false, "--", "sh", "-c", `yes | head -1; grep SigIgn /proc/self/status`)
	if r.code != 0 || strings.Contains(r.stderr, "Broken pipe") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var mask uint64
	if _, err := fmt.Sscanf(strings.TrimPrefix(strings.Split(string(r.stdout), "\n")[1], "SigIgn:"), "%x", &mask); err != nil {
		t.Fatalf("output %q: %v", r.stdout, err)
	}
	if mask&(1<<(syscall.SIGPIPE-1)) != 0 {
		t.Fatalf("SIGPIPE is ignored in the command (SigIgn %x)", mask)
	}
}

// TestMapClosedOutput: "farpipe map ... | head -1" exits 3 (broken pipe)
// and stops its commands.
func TestMapClosedOutput(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := command(t, "map", "--block", "1k", "-j", "2", "--", "cat")
	cmd.Stdin = bytes.NewReader(mapInput(4 << 20))
	cmd.Stdout = pw
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	buf := make([]byte, 10)
	if _, err := io.ReadFull(pr, buf); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitBrokenPipe {
		t.Fatalf("exit %d, want %d: %s", code, exitBrokenPipe, errb.String())
	}
}

// TestFeedChunkShortFile: a chunk of a file that shrank is an error, never
// a shorter chunk; a command that stops reading is not.
func TestFeedChunkShortFile(t *testing.T) {
	f := inputFile(t, bytes.Repeat([]byte("x\n"), 50))
	for _, tt := range []struct {
		name    string
		size    int64
		readAll bool
		wantErr bool
	}{
		{"whole", 100, true, false},
		{"shrank", 200, true, true},
		{"reader stops", 100, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan []byte)
			go func() {
				var b []byte
				if tt.readAll {
					b, _ = io.ReadAll(pr)
				}
				pr.Close()
				done <- b
			}()
			if !tt.readAll {
				<-done
			}
			err = feedChunk(pw, &flow.Chunk{Src: f, Size: tt.size})
			pw.Close()
			if tt.readAll {
				if got := <-done; !tt.wantErr && len(got) != int(tt.size) {
					t.Errorf("%d bytes fed, want %d", len(got), tt.size)
				}
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("feedChunk: %v, want an error: %v", err, tt.wantErr)
			}
		})
	}
}

// TestMapUnordered: --unordered writes every chunk's output whole, once.
func TestMapUnordered(t *testing.T) {
	in := mapInput(1 << 20)
	for _, viaFile := range []bool{false, true} {
		r := runMapCmd(t, in, viaFile, "--unordered", "--block", "10k", "-j", "3", "--", "sh", "-c", `sed "s/^/$FARPIPE_CHUNK:/"`)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(string(r.stdout), "\n"), "\n")
		seen := map[string]bool{}
		prev := ""
		var got []string
		for _, l := range lines {
			id, rest, _ := strings.Cut(l, ":")
			if id != prev {
				if seen[id] {
					t.Fatalf("chunk %s's output is split", id)
				}
				seen[id], prev = true, id
			}
			got = append(got, rest)
		}
		want := strings.Split(strings.TrimSuffix(string(in), "\n"), "\n")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("file %v: the lines out are not the lines in", viaFile)
		}
	}
}

func TestParseBlock(t *testing.T) {
	for in, want := range map[string]uint64{"1": 1, "1000": 1000, "1k": 1024, "1K": 1024, "1M": 1 << 20, "2G": 2 << 30,
		"1MiB": 1 << 20, "1MB": 1000000, "64KiB": 64 << 10, "1.5M": 3 << 19} {
		if got, err := parseBlock(in); err != nil || got != want {
			t.Errorf("parseBlock(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
