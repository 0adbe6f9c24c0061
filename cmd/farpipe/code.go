package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/relay/code"
	natst "github.com/farpipe/farpipe/transport/nats"
	natsgo "github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
)

// envRelay names the default relay of short codes.
const envRelay = "FARPIPE_RELAY"

// codeFlags are the flags of the pipe commands about short codes.
type codeFlags struct {
	relay  string
	expiry time.Duration
	words  int
	token  string // the token a code exchange gave; it overrides the others
}

func (cf *codeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&cf.relay, "relay", "", "the relay for short codes, nats://HOST[:PORT] (default: $"+envRelay+"); with no ADDR, print a code for the other side")
	fl.DurationVar(&cf.expiry, "code-expiry", code.DefaultExpiry, "how long a printed code waits for the other side")
	fl.IntVar(&cf.words, "code-words", 2, "secret words in a printed code (2 or more)")
}

// relayURL is the relay of short codes: --relay, else $FARPIPE_RELAY.
func (cf *codeFlags) relayURL() (url string, fromEnv bool, err error) {
	if cf.relay != "" {
		return cf.relay, false, nil
	}
	if r := strings.TrimSpace(os.Getenv(envRelay)); r != "" {
		return r, true, nil
	}
	return "", false, usagef("a short code needs a relay: give --relay nats://HOST[:PORT], or set $%s", envRelay)
}

// codeLike matches text that is meant as a short code: digits, then words.
var codeLike = regexp.MustCompile(`^[0-9]+(-[A-Za-z]+)+$`)

// isCode reports whether the address argument is a short code (or absent,
// which asks for one).
func isCode(addr string) bool { return addr == "" || codeLike.MatchString(addr) }

// byCode makes (text empty) or uses a short code on the relay and returns
// the address of the pipe it names; the token comes from the code. The
// side that makes the code waits at the pipe's name and the side that
// types it dials, except that exec always waits and connect always dials.
func (f *endpointFlags) byCode(ctx context.Context, text string) (string, error) {
	relay, fromEnv, err := f.code.relayURL()
	if err != nil {
		return "", err
	}
	var c code.Code
	if text != "" {
		if c, err = code.Parse(text); err != nil {
			return "", usagef("%s", trimPrefix(err))
		}
	} else if f.code.words < 2 {
		return "", usagef("--code-words %d: give 2 or more", f.code.words)
	}
	if f.cert != "" {
		return "", usagef("a short code makes the token: drop --cert, --key and --ca")
	}
	if _, err := f.options(); err != nil {
		return "", err
	}
	nc, release, err := natst.Connect(ctx, relay)
	if err != nil {
		return "", interrupted(ctx, err)
	}
	defer release()
	var sec code.Secret
	if text == "" {
		sec, err = f.offerCode(ctx, nc, relay, fromEnv)
	} else {
		sec, err = code.Join(ctx, nc, c)
	}
	if err != nil {
		if errors.Is(err, code.ErrWrongCode) {
			return "", kindf(farpipe.ErrAuth, "%s", err)
		}
		return "", interrupted(ctx, err)
	}
	switch f.verb {
	case "exec":
		f.listen = true
	case "connect":
		f.listen = false
	default:
		f.listen = text == ""
	}
	if !f.listen {
		f.wait = max(f.wait, 10*time.Second) // the other side starts waiting at the name now
	}
	f.code.token = sec.Token
	if f.verbose {
		logf("code accepted: the pipe is %s on the relay", sec.Name)
	}
	return natst.PipeAddr(relay, sec.Name), nil
}

// offerCode claims a code on the relay, prints the command for the other
// side, and waits (for --code-expiry) for the other side to use it.
func (f *endpointFlags) offerCode(ctx context.Context, nc *natsgo.Conn, relay string, fromEnv bool) (code.Secret, error) {
	o, err := code.Offer(ctx, nc, f.code.words)
	if err != nil {
		return code.Secret{}, err
	}
	defer o.Close()
	cmd := "farpipe " + f.peerVerb
	if f.noEncrypt {
		cmd += " --no-encrypt"
	}
	if f.peerVerb == "exec" { // exec takes the code where it takes its address
		cmd += " --listen"
	}
	cmd += " " + o.Code.String()
	if !fromEnv {
		cmd += " --relay " + relay
	}
	if f.peerVerb == "exec" {
		cmd += " -- COMMAND"
	}
	logf("on the other host, run:\n\n    %s\n\nThe code works once, within %s.", cmd, f.code.expiry)
	actx, cancel := context.WithTimeout(ctx, f.code.expiry)
	defer cancel()
	sec, err := o.Accept(actx)
	if errors.Is(err, code.ErrExpired) {
		return code.Secret{}, fmt.Errorf("farpipe: nobody used the code %s within %s (--code-expiry): run again for a new one", o.Code, f.code.expiry)
	}
	return sec, err
}
