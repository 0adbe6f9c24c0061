package code

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Everything published on the relay during a right and a wrong exchange
// is recorded (a subscription to ">"); neither the words, nor the token in
// its text or raw form, nor the pipe name appear in any subject, reply
// subject or payload.
func TestCaptureShowsNoSecret(t *testing.T) {
	s := startServer(t)
	tap := connect(t, s)
	rec := make(chan *nats.Msg, 1024)
	sub, err := tap.ChanSubscribe(">", rec)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := tap.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var secrets [][]byte
	for _, wrong := range []bool{false, true} {
		o, err := Offer(ctx, connect(t, s), 2)
		if err != nil {
			t.Fatal(err)
		}
		acc := acceptAsync(ctx, o)
		c := o.Code
		if wrong {
			c = withWord(c, 1)
		}
		jsec, jerr := Join(ctx, connect(t, s), c)
		got := <-acc
		if wrong != errors.Is(jerr, ErrWrongCode) || wrong != errors.Is(got.err, ErrWrongCode) {
			t.Fatalf("join %v, offer %v", jerr, got.err)
		}
		for _, code := range []Code{o.Code, c} {
			secrets = append(secrets, code.password(), []byte(strings.Join(code.Words, "")))
			for _, w := range code.Words {
				secrets = append(secrets, []byte(w))
			}
		}
		if !wrong {
			raw, _ := base64.RawURLEncoding.DecodeString(jsec.Token)
			secrets = append(secrets, []byte(jsec.Token), raw, []byte(jsec.Name))
		}
	}

	// The relay hands the tap every message in the order it routed them:
	// once the marker arrives, everything before it has.
	if err := tap.Publish("capture.end", nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range rec {
		if m.Subject == "capture.end" {
			break
		}
		n++
		for _, secret := range secrets {
			for _, where := range [][]byte{[]byte(m.Subject), []byte(m.Reply), m.Data} {
				if bytes.Contains(bytes.ToLower(where), secret) {
					t.Errorf("%q found in a message on %s", secret, m.Subject)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("captured only %d messages", n)
	}
	t.Logf("%d messages captured, none holds a secret", n)
}
