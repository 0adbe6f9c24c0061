package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRelayCapture: everything that passes between each farpipe process and
// the relay is recorded (a proxy in front of the relay for each); it holds
// neither the payload nor the token, nor, for a pipe made with a short
// code, the code's words. The control run with --no-encrypt shows that the
// recording sees the payload when it is there to see.
func TestRelayCapture(t *testing.T) {
	t.Parallel()
	const marker = "FARPIPE-CAPTURE-MARKER-5c0ffee-a-recognizable-line"
	var payload bytes.Buffer
	random := randomData(4 << 20)
	for i := 0; i < len(random); i += 4096 {
		payload.WriteString(marker + "\n")
		payload.Write(random[i : i+4096])
	}
	data := payload.Bytes()
	for _, tt := range []struct {
		name       string
		flags      []string
		code       bool // a pipe made with a short code, not an address with #TOKEN
		wantMarker bool
	}{
		{"encrypted", nil, false, false},
		{"short code", nil, true, false},
		{"control: --no-encrypt", []string{"--no-encrypt"}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRelay(t, farpipeRelayKind(), false)
			r.startFresh()
			relayAddr := strings.TrimPrefix(r.clientURL(), "nats://")
			recvRec, sendRec := newRecorder(t, relayAddr), newRecorder(t, relayAddr)
			var secrets, words map[string][]byte
			var number []byte // the code's number: public, in subjects
			var send, recv *child
			var got bytes.Buffer
			if tt.code {
				secrets, words, number, send, recv = pipeByCode(t, sendRec, recvRec, data, &got)
			} else {
				secrets, send, recv = pipeByToken(t, sendRec, recvRec, tt.flags, data, &got)
			}
			waitAll(t, 60*time.Second, send, recv)
			checkExit(t, send, recv)
			if got.Len() != len(data) || sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
				t.Fatalf("received %d bytes that differ from the %d sent", got.Len(), len(data))
			}
			checkCapture(t, append(recvRec.recorded(), sendRec.recorded()...), len(data), marker, tt.wantMarker, secrets, words, number)
		})
	}
}

// pipeByToken starts recv listening at the relay through recvRec without a
// token, and send, through sendRec, at the address with #TOKEN that recv
// printed. It returns the token as the secrets.
func pipeByToken(t *testing.T, sendRec, recvRec *recorder, flags []string, data []byte, out *bytes.Buffer) (secrets map[string][]byte, send, recv *child) {
	t.Helper()
	recvCmd := withoutToken(command(t, append([]string{"recv", "--listen", "nats://" + recvRec.addr() + "/capture"}, flags...)...))
	recvCmd.Stdout = out
	recv = runCmd(t, recvCmd)
	line, err := recv.stderr.waitLine("farpipe send", 30*time.Second, recv.exited)
	if err != nil {
		failDumping(t, fmt.Sprintf("recv did not print the sender's command: %v", err), recv)
	}
	fields := strings.Fields(line)
	addr := fields[len(fields)-1]
	_, token, ok := strings.Cut(addr, "#")
	if !ok || len(token) < 16 {
		t.Fatalf("recv printed %q: no address with #TOKEN", line)
	}
	sendCmd := withoutToken(command(t, append([]string{"send", "--wait", "10s", strings.Replace(addr, recvRec.addr(), sendRec.addr(), 1)}, flags...)...))
	sendCmd.Stdin = bytes.NewReader(data)
	send = runCmd(t, sendCmd)
	return tokenSecrets(token), send, recv
}

// pipeByCode starts send --relay through sendRec, which prints a short
// code, and recv with that code through recvRec. It returns the secrets
// (the words joined as typed or as the PAKE's password) and the words.
func pipeByCode(t *testing.T, sendRec, recvRec *recorder, data []byte, out *bytes.Buffer) (secrets, words map[string][]byte, number []byte, send, recv *child) {
	t.Helper()
	sendCmd := withoutToken(command(t, "send", "--relay", "nats://"+sendRec.addr()))
	sendCmd.Stdin = bytes.NewReader(data)
	send = runCmd(t, sendCmd)
	line, err := send.stderr.waitLine("farpipe recv", 30*time.Second, send.exited)
	if err != nil {
		failDumping(t, fmt.Sprintf("send --relay printed no code: %v", err), send)
	}
	fields := strings.Fields(line)
	if len(fields) < 3 || !codeLike.MatchString(fields[2]) {
		t.Fatalf("send --relay printed %q: no code", line)
	}
	code := fields[2]
	all := strings.Split(strings.ToLower(code), "-")
	number, parts := []byte(all[0]), all[1:]
	secrets = map[string][]byte{
		"the code's words":         []byte(strings.Join(parts, "-")),
		"the code's words, joined": []byte(strings.Join(parts, "")),
		"the code's words, spaced": []byte(strings.Join(parts, " ")),
	}
	words = make(map[string][]byte)
	for i, w := range parts {
		words["the code's word "+strconv.Itoa(i+1)+" ("+w+")"] = []byte(w)
	}
	recvCmd := withoutToken(command(t, "recv", "--relay", "nats://"+recvRec.addr(), code))
	recvCmd.Stdout = out
	recv = runCmd(t, recvCmd)
	return secrets, words, number, send, recv
}

// tokenSecrets are the forms of a token that must not pass the relay: as
// printed, and its bytes.
func tokenSecrets(token string) map[string][]byte {
	s := map[string][]byte{"the token": []byte(token)}
	if raw, err := base64.RawURLEncoding.DecodeString(token); err == nil && len(raw) >= 16 {
		s["the token's bytes"] = raw
	}
	return s
}

// checkCapture checks the recorded streams: they must be NATS traffic that
// carried the pipe (message payloads of at least twice size: the stream
// into the relay and out of it), hold the marker only if wantMarker, and
// none of secrets anywhere. Words are short: they are looked for as whole
// words (not between letters or digits) where a chance match is unlikely:
// the subjects of the protocol's control lines and the payloads of small
// messages (the rendezvous and the code exchange); not in INFO and CONNECT
// (whose JSON holds "name", "echo" and "false", words of the list), nor in
// the stream's ciphertext, where any short string turns up by chance. The
// code's number, if given, is public and must be seen there (in the
// subjects of the code exchange): that shows that the search reaches them.
func checkCapture(t *testing.T, streams [][]byte, size int, marker string, wantMarker bool, secrets, words map[string][]byte, number []byte) {
	t.Helper()
	var payloads, smallBytes, controls, small int
	sawMarker, sawNumber := false, false
	for _, stream := range streams {
		sawMarker = sawMarker || bytes.Contains(stream, []byte(marker))
		for what, s := range secrets {
			if bytes.Contains(stream, s) || bytes.Contains(bytes.ToLower(stream), s) {
				t.Errorf("the relay's traffic holds %s", what)
			}
		}
		for _, part := range natsParts(stream) {
			switch {
			case part.control:
				controls++
				if op, _, _ := strings.Cut(string(part.data), " "); op == "INFO" || op == "CONNECT" {
					continue
				}
			case len(part.data) <= 1024:
				small++
				smallBytes += len(part.data)
			default:
				payloads += len(part.data)
				continue
			}
			sawNumber = sawNumber || number != nil && containsWord(part.data, number)
			for what, w := range words {
				if containsWord(part.data, w) {
					t.Errorf("the relay's traffic holds %s: %q", what, part.data)
				}
			}
		}
	}
	// The stream crosses the relay twice (in from the sender, out to the
	// receiver), in messages whose sizes depend on timing: a busy machine
	// sends more, smaller ones. What counts is that all of it was recorded.
	if payloads+smallBytes < 2*size || controls == 0 || small == 0 {
		t.Fatalf("the recording holds %d bytes of messages (%d of them in %d small ones), %d control lines: it did not record the pipe's traffic", payloads+smallBytes, smallBytes, small, controls)
	}
	if number != nil && !sawNumber {
		t.Errorf("the code's number %s is not in the relay's traffic: the search for the words does not reach the code exchange", number)
	}
	if sawMarker != wantMarker {
		t.Errorf("the payload's marker is in the relay's traffic: %v, want %v", sawMarker, wantMarker)
	}
	t.Logf("recorded %d bytes of messages (%d of them in %d small ones), %d control lines", payloads+smallBytes, smallBytes, small, controls)
}

// containsWord reports whether b holds w (lower case), or w in upper case
// or with a capital, as a whole word: neither preceded nor followed by a
// letter or digit.
func containsWord(b, w []byte) bool {
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }
	title := append([]byte{}, w...)
	title[0] = bytes.ToUpper(title[:1])[0]
	for _, form := range [][]byte{w, bytes.ToUpper(w), title} {
		for i := 0; ; {
			j := bytes.Index(b[i:], form)
			if j < 0 {
				break
			}
			at, end := i+j, i+j+len(form)
			if (at == 0 || !alnum(b[at-1])) && (end == len(b) || !alnum(b[end])) {
				return true
			}
			i = at + 1
		}
	}
	return false
}

// A natsPart is a control line of the NATS client protocol (INFO, CONNECT,
// PUB, SUB, MSG, PING...) or the payload of a message.
type natsPart struct {
	control bool
	data    []byte
}

// natsParts splits a recorded NATS connection, one direction of it, into
// its control lines and message payloads. It stops at the first thing it
// cannot parse (a connection cut in the middle of a message).
func natsParts(b []byte) []natsPart {
	var parts []natsPart
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := b[:i]
		b = b[i+2:]
		parts = append(parts, natsPart{control: true, data: line})
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		// The payload's size is the last argument of PUB, HPUB, MSG and
		// HMSG (the total, headers included, for HPUB and HMSG).
		switch strings.ToUpper(f[0]) {
		case "PUB", "HPUB", "MSG", "HMSG":
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil || n < 0 || n+2 > len(b) {
				return parts
			}
			parts = append(parts, natsPart{data: b[:n]})
			b = b[n+2:]
		}
	}
	return parts
}

func TestContainsWord(t *testing.T) {
	for _, tt := range []struct {
		b, w string
		want bool
	}{
		{"farpipe.code.acorn", "acorn", true},
		{"PUB farpipe.code.7 _INBOX.x 12", "7", true},
		{"Acorn!", "acorn", true},
		{"\x00ACORN\xff", "acorn", true},
		{"_INBOX.x9acornQz", "acorn", false},
		{"acorns", "acorn", false},
		{"2acorn", "acorn", false},
		{"acorn", "acre", false},
	} {
		if got := containsWord([]byte(tt.b), []byte(tt.w)); got != tt.want {
			t.Errorf("containsWord(%q, %q) = %v, want %v", tt.b, tt.w, got, tt.want)
		}
	}
}

func TestNATSParts(t *testing.T) {
	rec := "INFO {}\r\nPUB a.b _INBOX.1 5\r\nhello\r\nMSG x 1 3\r\n\r\n!\r\nHMSG y 2 4 7\r\nNATSabc\r\nPING\r\nPUB cut 100\r\nabc"
	var got []string
	for _, p := range natsParts([]byte(rec)) {
		got = append(got, fmt.Sprintf("%v:%s", p.control, p.data))
	}
	want := []string{"true:INFO {}", "true:PUB a.b _INBOX.1 5", "false:hello", "true:MSG x 1 3", "false:\r\n!",
		"true:HMSG y 2 4 7", "false:NATSabc", "true:PING", "true:PUB cut 100"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("natsParts:\n got %q\nwant %q", got, want)
	}
}
