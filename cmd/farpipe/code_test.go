package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"os/exec"
	"regexp"
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
		re := regexp.MustCompile(`farpipe \w+ ([0-9]+-[a-z]+-[a-z]+)`)
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
