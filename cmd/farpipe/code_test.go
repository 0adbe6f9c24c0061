package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/testrelay"
)

// offerCode starts cmd (a command that makes a short code), waits for the
// code it prints and returns it with the wait of the process, which gives
// its whole stderr in the result. The process is killed when the test ends.
func offerCode(t *testing.T, cmd *exec.Cmd, stdin io.Reader) (code string, wait func() result) {
	t.Helper()
	pr, pw := io.Pipe()
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	scanned := make(chan struct{})
	go func() { // ends when the process has exited and pw is closed
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`farpipe \w+ (?:--listen )?([0-9]+-[a-z]+-[a-z]+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			errb.WriteString(sc.Text() + "\n")
		}
		io.Copy(io.Discard, pr)
	}()
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		cmd.Wait()
		pw.Close()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		<-scanned
	})
	wait = func() result {
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-exited
			<-scanned
			t.Fatalf("%v did not exit within 60 s; its stderr:\n%s", cmd.Args, errb.String())
		}
		<-scanned
		return result{cmd.ProcessState.ExitCode(), out.Bytes(), errb.String()}
	}
	select {
	case code := <-found:
		return code, wait
	case <-exited:
		r := wait()
		t.Fatalf("%v printed no code (exit %d): %s", cmd.Args, r.code, r.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("%v printed no code within 30 s", cmd.Args)
	}
	return "", nil
}

// TestShortCodes moves data between two processes that share only a short
// code and a relay, with each side making the code in turn, and checks that
// a wrong code fails both sides with exit 6 and burns the code.
func TestShortCodes(t *testing.T) {
	t.Parallel()
	r := testrelay.Start(t)
	relay := "nats://" + r.HostPort()
	data := randomData(8 << 20)
	want := sha256.Sum256(data)
	for _, tc := range []struct {
		name          string
		maker, joiner []string // the command that makes the code; the one that uses it
		makerSends    bool
	}{
		{"send makes the code", []string{"send", "--relay", relay}, []string{"recv", "--relay", relay}, true},
		{"recv makes the code", []string{"recv", "--relay", relay}, []string{"send", "--relay", relay}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var makerIn, joinerIn io.Reader
			if tc.makerSends {
				makerIn = bytes.NewReader(data)
			} else {
				joinerIn = bytes.NewReader(data)
			}
			code, waitMaker := offerCode(t, withoutToken(command(t, tc.maker...)), makerIn)
			joiner := start(t, withoutToken(command(t, append(tc.joiner, code)...)), joinerIn)
			m, j := waitMaker(), joiner()
			if m.code != 0 || j.code != 0 {
				t.Fatalf("exit codes: maker %d, joiner %d\nmaker: %s\njoiner: %s", m.code, j.code, m.stderr, j.stderr)
			}
			out := j.stdout
			if !tc.makerSends {
				out = m.stdout
			}
			if sha256.Sum256(out) != want {
				t.Fatalf("received %d bytes whose SHA-256 differs from the %d sent", len(out), len(data))
			}
		})
	}
	t.Run("wrong code", func(t *testing.T) {
		code, waitMaker := offerCode(t, withoutToken(command(t, "send", "--relay", relay)), strings.NewReader("secret"))
		number := code[:strings.IndexByte(code, '-')]
		wrong := number + "-zebra-zebra"
		if strings.HasSuffix(code, "-zebra-zebra") {
			wrong = number + "-apple-apple"
		}
		j := start(t, withoutToken(command(t, "recv", "--relay", relay, wrong)), nil)()
		m := waitMaker()
		if m.code != exitAuth || j.code != exitAuth {
			t.Fatalf("exit codes: maker %d, joiner %d, want %d for both\nmaker: %s\njoiner: %s", m.code, j.code, exitAuth, m.stderr, j.stderr)
		}
		if len(j.stdout) != 0 {
			t.Fatalf("the joiner with the wrong code wrote %q", j.stdout)
		}
		// One guess per code: the right words no longer work.
		again := start(t, withoutToken(command(t, "recv", "--relay", relay, code)), nil)()
		if again.code == 0 || len(again.stdout) != 0 {
			t.Fatalf("the burned code still worked: exit %d, output %q", again.code, again.stdout)
		}
	})
	t.Run("expired", func(t *testing.T) {
		_, waitMaker := offerCode(t, withoutToken(command(t, "send", "--relay", relay, "--code-expiry", "500ms")), strings.NewReader("x"))
		m := waitMaker()
		if m.code != exitFailure || !strings.Contains(m.stderr, "nobody used the code") {
			t.Fatalf("expired code: exit %d, stderr %s", m.code, m.stderr)
		}
	})
}

// TestRelayPipeCommands runs the other pipe commands through a relay that
// requires a token of its clients: exec and connect by short code (each
// side making it in turn) and by name, tee to two receivers, and merge from
// two senders.
func TestRelayPipeCommands(t *testing.T) {
	t.Parallel()
	r := testrelay.StartWithToken(t, "relay-login-secret")
	relay := "nats://relay-login-secret@" + r.HostPort()
	t.Run("exec makes the code", func(t *testing.T) {
		code, waitExec := offerCode(t, withoutToken(command(t, "exec", "--relay", relay, "--", "sort", "-rn")), nil)
		c := start(t, withoutToken(command(t, "connect", "--relay", relay, code)), strings.NewReader("1\n3\n2\n"))()
		e := waitExec()
		if c.code != 0 || e.code != 0 || string(c.stdout) != "3\n2\n1\n" {
			t.Fatalf("connect: exit %d, output %q, stderr %s; exec: exit %d, stderr %s", c.code, c.stdout, c.stderr, e.code, e.stderr)
		}
	})
	t.Run("connect makes the code", func(t *testing.T) {
		code, waitConnect := offerCode(t, withoutToken(command(t, "connect", "--relay", relay)), strings.NewReader("b\na\n"))
		e := start(t, withoutToken(command(t, "exec", "--relay", relay, "--listen", code, "--", "sort")), nil)()
		c := waitConnect()
		if c.code != 0 || e.code != 0 || string(c.stdout) != "a\nb\n" {
			t.Fatalf("connect: exit %d, output %q, stderr %s; exec: exit %d, stderr %s", c.code, c.stdout, c.stderr, e.code, e.stderr)
		}
	})
	t.Run("tee and merge", func(t *testing.T) {
		data := randomData(4 << 20)
		want := sha256.Sum256(data)
		r1 := start(t, command(t, "recv", "--listen", relay+"/tee1"), nil)
		r2 := start(t, command(t, "recv", "--listen", relay+"/tee2"), nil)
		tee := start(t, command(t, "tee", "--wait", "20s", relay+"/tee1", relay+"/tee2"), bytes.NewReader(data))()
		for i, w := range []func() result{r1, r2} {
			got := w()
			if got.code != 0 || sha256.Sum256(got.stdout) != want {
				t.Fatalf("receiver %d of tee: exit %d, %d bytes, stderr %s", i+1, got.code, len(got.stdout), got.stderr)
			}
		}
		if tee.code != 0 {
			t.Fatalf("tee: exit %d: %s", tee.code, tee.stderr)
		}

		m := start(t, command(t, "merge", "--listen", relay+"/logs", "--from", "2", "--label"), nil)
		s1 := start(t, command(t, "send", "--wait", "20s", "--name", "a", relay+"/logs"), strings.NewReader("1\n2\n"))
		s2 := start(t, command(t, "send", "--wait", "20s", "--name", "b", relay+"/logs"), strings.NewReader("3\n"))
		for _, w := range []func() result{s1, s2} {
			if got := w(); got.code != 0 {
				t.Fatalf("a sender of merge: exit %d: %s", got.code, got.stderr)
			}
		}
		got := m()
		lines := strings.Split(strings.TrimSpace(string(got.stdout)), "\n")
		sort.Strings(lines)
		if got.code != 0 || strings.Join(lines, ",") != "a\t1,a\t2,b\t3" {
			t.Fatalf("merge: exit %d, output %q, stderr %s", got.code, got.stdout, got.stderr)
		}
	})
}
