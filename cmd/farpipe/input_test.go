package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// oneLineErr reports whether stderr is one line starting "farpipe:".
func oneLineErr(stderr string) bool {
	return strings.HasPrefix(stderr, "farpipe: ") && strings.Count(stderr, "\n") == 1
}

// TestRoleMismatch: two commands that do not go together both exit 7 with
// a one-line error naming the peer's command and what to run instead, and
// nothing is delivered.
func TestRoleMismatch(t *testing.T) {
	for _, tt := range []struct {
		name           string
		listen, dial   []string
		listenerStays  bool   // exec keeps serving other peers
		dialerSays     string // in the dialer's message
		listenerSays   string // in the listener's message
		dialerRunsRecv bool   // the dialer's stdout must stay empty
	}{
		{name: "send to send", listen: []string{"send", "--listen"}, dial: []string{"send", "--wait", "10s"},
			dialerSays: "the peer runs farpipe send, which goes with farpipe recv", listenerSays: "run farpipe recv here instead"},
		{name: "recv to recv", listen: []string{"recv", "--listen"}, dial: []string{"recv", "--wait", "10s"},
			dialerSays: "the peer runs farpipe recv", listenerSays: "the peer runs farpipe recv", dialerRunsRecv: true},
		{name: "connect to recv", listen: []string{"recv", "--listen"}, dial: []string{"connect", "--wait", "10s"},
			dialerSays: "run farpipe send here instead", listenerSays: "the peer runs farpipe connect, which goes with farpipe exec", dialerRunsRecv: true},
		{name: "send to exec", listen: []string{"exec", "--listen"}, dial: []string{"send", "--wait", "10s"},
			dialerSays: "run farpipe connect here instead", listenerStays: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			largs := append(append([]string(nil), tt.listen...), addr)
			if tt.listen[0] == "exec" {
				largs = append(largs, "--", "cat")
			}
			lcmd := command(t, largs...)
			listener := start(t, lcmd, strings.NewReader("from the listener"))
			d := start(t, command(t, append(tt.dial, addr)...), strings.NewReader("from the dialer"))()
			if d.code != exitRole || !oneLineErr(d.stderr) || !strings.Contains(d.stderr, tt.dialerSays) {
				t.Errorf("dialer: exit %d, %q; want %d and %q", d.code, d.stderr, exitRole, tt.dialerSays)
			}
			if tt.dialerRunsRecv && len(d.stdout) != 0 {
				t.Errorf("dialer wrote %q", d.stdout)
			}
			if tt.listenerStays {
				lcmd.Process.Signal(os.Interrupt)
				listener()
				return
			}
			l := listener()
			if l.code != exitRole || !oneLineErr(l.stderr) || !strings.Contains(l.stderr, tt.listenerSays) {
				t.Errorf("listener: exit %d, %q; want %d and %q", l.code, l.stderr, exitRole, tt.listenerSays)
			}
			if len(l.stdout) != 0 {
				t.Errorf("listener wrote %q", l.stdout)
			}
		})
	}
}

// TestEncryptionMismatch: a side with --no-encrypt and one without both
// exit 8, whichever listens, and each says which flag to change.
func TestEncryptionMismatch(t *testing.T) {
	for _, tt := range []struct {
		name               string
		recvArgs, sendArgs []string
		recvSays, sendSays string
	}{
		{"plain dialer", []string{"recv", "--listen"}, []string{"send", "--no-encrypt", "--wait", "10s"},
			"add --no-encrypt here", "drop --no-encrypt here"},
		{"plain listener", []string{"recv", "--no-encrypt", "--listen"}, []string{"send", "--wait", "10s"},
			"drop --no-encrypt here", "add --no-encrypt here"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			recv := start(t, command(t, append(tt.recvArgs, addr)...), nil)
			s := start(t, command(t, append(tt.sendArgs, addr)...), strings.NewReader("x"))()
			r := recv()
			if s.code != exitEncryption || !oneLineErr(s.stderr) || !strings.Contains(s.stderr, tt.sendSays) {
				t.Errorf("send: exit %d, %q; want %d and %q", s.code, s.stderr, exitEncryption, tt.sendSays)
			}
			if r.code != exitEncryption || !oneLineErr(r.stderr) || !strings.Contains(r.stderr, tt.recvSays) || len(r.stdout) != 0 {
				t.Errorf("recv: exit %d, %q, wrote %q; want %d and %q", r.code, r.stderr, r.stdout, exitEncryption, tt.recvSays)
			}
		})
	}
}

// TestBadInput: malformed values are usage errors (exit 2, one line), even
// for flags that this run would not use.
func TestBadInput(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big")
	os.WriteFile(big, bytes.Repeat([]byte("x"), 5000), 0o600)
	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{"send", "--token-file", "/dev/zero", "127.0.0.1:1"}, "more than 4096 bytes"},
		{[]string{"send", "--token-file", big, "127.0.0.1:1"}, "more than 4096 bytes"},
		{[]string{"send", "--token-file", "/nonexistent/token", "127.0.0.1:1"}, "--token-file"},
		{[]string{"send", "fp://127.0.0.1:1/#short"}, "at least 16"},
		{[]string{"send", "fp://127.0.0.1:1/path/#abcdefghijklmnopqrst"}, "fp://HOST:PORT/#TOKEN"},
		{[]string{"send", "unix:///tmp/x.sock#"}, "token"},
		{[]string{"send", "foo://x"}, "unknown transport"},
		{[]string{"recv", "127.0.0.1"}, "no port"},
		{[]string{"send", "--wait", "-1s", "127.0.0.1:1"}, "--wait"},
		{[]string{"send", "--wait", "soon", "127.0.0.1:1"}, "wait"},
		{[]string{"send", "--size", "-1", "127.0.0.1:1"}, "--size"},
		{[]string{"recv", "--size", "lots", "127.0.0.1:1"}, "--size"},
		{[]string{"exec", "--drain-timeout", "-1s", "--listen", "127.0.0.1:0", "--", "cat"}, "--drain-timeout"},
	} {
		r := start(t, command(t, tt.args...), nil)()
		if r.code != exitUsage || !oneLineErr(r.stderr) || !strings.Contains(r.stderr, tt.says) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tt.args, r.code, r.stderr, exitUsage, tt.says)
		}
	}
	// Without any token, dialing is a usage error that says where one comes
	// from.
	r := start(t, withoutToken(command(t, "send", "127.0.0.1:1")), nil)()
	if r.code != exitUsage || !strings.Contains(r.stderr, "FARPIPE_TOKEN") {
		t.Errorf("no token: exit %d, %q", r.code, r.stderr)
	}
}

// TestClosedStdio: a standard input or output that is not open is refused
// with a usage error, never taken for an empty stream.
func TestClosedStdio(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no <&- on Windows")
	}
	addr := freeAddr(t)
	for _, tt := range []struct {
		script, says string
	}{
		{`exec "$0" send "$1" <&-`, "standard input is not open"},
		{`exec "$0" recv --listen "$1" >&-`, "standard output is not open"},
		{`exec "$0" connect "$1" <&-`, "standard input is not open"},
		{`exec "$0" connect "$1" >&-`, "standard output is not open"},
	} {
		cmd := command(t, "-c", tt.script, os.Args[0], addr)
		cmd.Path, cmd.Args[0] = "/bin/sh", "sh"
		r := start(t, cmd, nil)()
		if r.code != exitUsage || !oneLineErr(r.stderr) || !strings.Contains(r.stderr, tt.says) {
			t.Errorf("%s: exit %d, %q; want %d and %q", tt.script, r.code, r.stderr, exitUsage, tt.says)
		}
	}
	// /dev/null given on purpose is an empty stream, as ever.
	recv := start(t, command(t, "recv", "--listen", addr), nil)
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	s := start(t, command(t, "send", "--wait", "10s", addr), null)()
	if r := recv(); s.code != 0 || r.code != 0 || len(r.stdout) != 0 {
		t.Errorf("< /dev/null: send exit %d (%s), recv exit %d (%s)", s.code, s.stderr, r.code, r.stderr)
	}
}

// TestOutputFull: recv > /dev/full is an I/O failure (exit 1) on recv, and
// the sender is told why instead of "broken pipe".
func TestOutputFull(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full here")
	}
	defer full.Close()
	addr := freeAddr(t)
	rcmd := command(t, "recv", "--listen", addr)
	rcmd.Stdout = full
	var rerr bytes.Buffer
	rcmd.Stderr = &rerr
	if err := rcmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := start(t, command(t, "send", "--wait", "10s", addr), bytes.NewReader(randomData(4<<20)))()
	rcmd.Wait()
	if code := rcmd.ProcessState.ExitCode(); code != exitFailure || !strings.Contains(rerr.String(), "no space left on device") {
		t.Errorf("recv: exit %d, %q; want %d and the cause", code, rerr.String(), exitFailure)
	}
	if s.code == 0 || s.code == exitBrokenPipe || !oneLineErr(s.stderr) ||
		!strings.Contains(s.stderr, "the receiver could not write its output: no space left on device") {
		t.Errorf("send: exit %d, %q; want the receiver's reason", s.code, s.stderr)
	}
}

// TestLocalOneTimeAddress: a unix:// or shm:// listener without a token
// prints a command that works on this host, and it does.
func TestLocalOneTimeAddress(t *testing.T) {
	addrs := []string{"unix://" + filepath.Join(t.TempDir(), "s.sock")}
	if runtime.GOOS == "linux" {
		addrs = append(addrs, "shm://fp-cli-test-"+strings.ReplaceAll(time.Now().Format("150405.000000"), ".", ""))
	}
	for _, addr := range addrs {
		cmd := withoutToken(command(t, "recv", "--listen", addr))
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read the printed command up to its first blank line after it.
		var printed []byte
		buf := make([]byte, 1024)
		for !bytes.Contains(printed, []byte("serves one pipe only")) {
			n, err := stderr.Read(buf)
			printed = append(printed, buf[:n]...)
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("%s: stderr ended before the command was printed: %q", addr, printed)
			}
		}
		if !bytes.Contains(printed, []byte("on this host, run:")) {
			t.Errorf("%s: %q does not say to run it on this host", addr, printed)
		}
		var peer []string
		for _, line := range strings.Split(string(printed), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "farpipe" && f[1] == "send" {
				peer = f[1:]
			}
		}
		if peer == nil || !strings.HasPrefix(peer[1], addr+"#") {
			t.Fatalf("%s: no usable command in %q", addr, printed)
		}
		s := start(t, withoutToken(command(t, peer...)), strings.NewReader("over "+addr))()
		cmd.Wait()
		if s.code != 0 || cmd.ProcessState.ExitCode() != 0 || out.String() != "over "+addr {
			t.Errorf("%s: send exit %d (%s), recv exit %d, got %q", addr, s.code, s.stderr, cmd.ProcessState.ExitCode(), out.String())
		}
	}
}

// TestExecAddressSaysManyPeers: exec's printed address says plainly that
// it admits many peers, and that --once makes it single-use.
func TestExecAddressSaysManyPeers(t *testing.T) {
	for _, tt := range []struct {
		once bool
		says string
	}{
		{false, "admits any number of peers"},
		{true, "serves one pipe only"},
	} {
		args := []string{"exec", "--listen", freeAddr(t)}
		if tt.once {
			args = append(args, "--once")
		}
		cmd := withoutToken(command(t, append(args, "--", "cat")...))
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var printed []byte
		buf := make([]byte, 1024)
		for !bytes.Contains(printed, []byte(tt.says)) {
			n, err := stderr.Read(buf)
			printed = append(printed, buf[:n]...)
			if err != nil {
				break
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		if !bytes.Contains(printed, []byte(tt.says)) {
			t.Errorf("exec once=%v printed %q, want %q", tt.once, printed, tt.says)
		}
	}
}

// TestVersion: farpipe version and --version print the same version to
// standard output, never "dev".
func TestVersion(t *testing.T) {
	var outs []string
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := start(t, command(t, args...), nil)()
		out := string(r.stdout)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(out, "farpipe ") || strings.Contains(out, "dev\n") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, out, r.stderr)
		}
		outs = append(outs, out)
	}
	if outs[0] != outs[1] {
		t.Errorf("version says %q, --version %q", outs[0], outs[1])
	}
	for _, tt := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
			{Key: "vcs.time", Value: "2026-11-29T22:00:00Z"}}}, "(devel) 0123456789ab+dirty 2026-11-29T22:00:00Z, go1.26"},
		{debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "(devel)"}}, "(devel: built without version control information, go1.26)"},
	} {
		if got := versionOf(&tt.bi); got != tt.want {
			t.Errorf("versionOf(%+v) = %q, want %q", tt.bi.Main, got, tt.want)
		}
	}
}

// TestHelpListsAddressForms: send and recv --help name every address form.
func TestHelpListsAddressForms(t *testing.T) {
	for _, verb := range []string{"send", "recv"} {
		r := start(t, command(t, verb, "--help"), nil)()
		for _, form := range []string{"HOST:PORT", "tcp://", "fp://HOST:PORT/#TOKEN", "unix:///", "shm://", "#TOKEN"} {
			if !bytes.Contains(r.stdout, []byte(form)) {
				t.Errorf("%s --help does not mention %s", verb, form)
			}
		}
	}
}

// TestFifoReadmeExample runs the README's --fifo example as written, with
// cat as the program that takes a file name: the consumer never starts
// before the named pipe exists.
func TestFifoReadmeExample(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no named pipes")
	}
	data := randomData(1 << 20)
	for i := range 5 {
		dir := t.TempDir()
		addr := freeAddr(t)
		// As in the README, with farpipe and a port of our own.
		script := `mkfifo "$2/in"
"$0" recv --listen "$1" --fifo "$2/in" & cat "$2/in" > "$2/out"
wait $!`
		cmd := command(t, "-c", script, os.Args[0], addr, dir)
		cmd.Path, cmd.Args[0] = "/bin/sh", "sh"
		sh := start(t, cmd, nil)
		s := start(t, command(t, "send", "--wait", "10s", addr), bytes.NewReader(data))()
		r := sh()
		got, _ := os.ReadFile(filepath.Join(dir, "out"))
		if s.code != 0 || r.code != 0 || !bytes.Equal(got, data) {
			t.Fatalf("run %d: send exit %d (%s), sh exit %d (%s), %d bytes out", i, s.code, s.stderr, r.code, r.stderr, len(got))
		}
	}
}

// TestProgressLine: the rate shows only after a second, so the first burst
// (a window filled at once) is not an absurd rate; sizes are in binary
// units.
func TestProgressLine(t *testing.T) {
	now := time.Unix(1000, 0)
	var n uint64
	p := newProgress("send", 1<<30, func() uint64 { return n }, nil)
	p.now = func() time.Time { return now }
	p.start = now
	for _, step := range []struct {
		after time.Duration
		n     uint64
		want  string
	}{
		{10 * time.Millisecond, 8 << 20, "farpipe: send 8.0 MiB / 1.0 GiB   1%  -- B/s  0:00"},
		{500 * time.Millisecond, 16 << 20, "farpipe: send 16 MiB / 1.0 GiB   2%  -- B/s  0:01"},
		{time.Second, 120 << 20, "farpipe: send 120 MiB / 1.0 GiB  12%  75 MiB/s  0:02  ETA 0:12"}, // 112 MiB in 1.5 s
		{0, 120 << 20, "farpipe: send 120 MiB / 1.0 GiB  12%  75 MiB/s (limit 9.5 MiB/s)  0:02  ETA 0:12"},
	} {
		if step.after == 0 { // --rate-limit 10MB/s
			p.limit = (&rateFlag{"10MB/s"}).label()
		}
		now, n = now.Add(step.after), step.n
		if got := p.line(); got != step.want {
			t.Errorf("after %d bytes: %q, want %q", step.n, got, step.want)
		}
	}
}
