package code

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/cpace"
	"github.com/farpipe/farpipe/secure"
	"github.com/nats-io/nats.go"
)

// outcome is one side's result.
type outcome struct {
	sec Secret
	err error
}

// acceptAsync runs o.Accept in a goroutine; the returned channel gets its
// outcome. The test waits for it (every test reads the channel).
func acceptAsync(ctx context.Context, o *Offering) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		sec, err := o.Accept(ctx)
		ch <- outcome{sec, err}
	}()
	return ch
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name   string
		nwords int
		change func(Code) Code // what the joiner types
		err    error           // both sides' error
	}{
		{"right code", 2, func(c Code) Code { return c }, nil},
		{"right code, three words", 3, func(c Code) Code { return c }, nil},
		{"wrong first word", 2, func(c Code) Code { return withWord(c, 0) }, ErrWrongCode},
		{"wrong last word", 3, func(c Code) Code { return withWord(c, 2) }, ErrWrongCode},
		{"words swapped", 2, func(c Code) Code {
			if c.Words[0] == c.Words[1] {
				return withWord(c, 0)
			}
			return Code{Number: c.Number, Words: []string{c.Words[1], c.Words[0]}}
		}, ErrWrongCode},
		{"a word missing", 3, func(c Code) Code { return Code{Number: c.Number, Words: c.Words[:2]} }, ErrWrongCode},
	}
	s := startServer(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			o, err := Offer(ctx, connect(t, s), tc.nwords)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			acc := acceptAsync(ctx, o)
			joinCode := tc.change(o.Code)
			jsec, jerr := Join(ctx, connect(t, s), joinCode)
			got := <-acc
			if !errors.Is(jerr, tc.err) || !errors.Is(got.err, tc.err) || (tc.err == nil) != (jerr == nil || got.err == nil) {
				t.Fatalf("join: %v, offer: %v; want %v on both", jerr, got.err, tc.err)
			}
			if tc.err != nil {
				// Burned: the right code afterwards finds no offer.
				if _, err := Join(ctx, connect(t, s), o.Code); !errors.Is(err, ErrNoOffer) {
					t.Fatalf("join with the right code after a wrong one: %v, want ErrNoOffer", err)
				}
				return
			}
			if jsec != got.sec {
				t.Fatalf("secrets differ: join %+v, offer %+v", jsec, got.sec)
			}
			if err := secure.CheckToken(jsec.Token); err != nil || len(jsec.Name) != 32 {
				t.Fatalf("secret %+v: %v", jsec, err)
			}
			// Used once: a second join finds no offer.
			if _, err := Join(ctx, connect(t, s), o.Code); !errors.Is(err, ErrNoOffer) {
				t.Fatalf("second join: %v, want ErrNoOffer", err)
			}
		})
	}
}

// withWord replaces word i of c with another list word.
func withWord(c Code, i int) Code {
	words := append([]string(nil), c.Words...)
	words[i] = wordList[(wordIndex[words[i]]+1)%NumWords]
	return Code{Number: c.Number, Words: words}
}

func TestJoinNoOffer(t *testing.T) {
	s := startServer(t)
	nc := connect(t, s)
	c, _ := Parse("7-apple-river")
	_, err := Join(context.Background(), nc, c)
	if !errors.Is(err, ErrNoOffer) {
		t.Fatalf("got %v, want ErrNoOffer", err)
	}
	if msg := err.Error(); msg[:9] != "farpipe: " {
		t.Fatalf("error %q", msg)
	}
}

func TestExpiry(t *testing.T) {
	s := startServer(t)
	nc := connect(t, s)
	o, err := Offer(context.Background(), nc, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := o.Accept(ctx); !errors.Is(err, ErrExpired) {
		t.Fatalf("Accept: %v, want ErrExpired", err)
	}
	if _, err := Join(context.Background(), connect(t, s), o.Code); !errors.Is(err, ErrNoOffer) {
		t.Fatalf("join after expiry: %v, want ErrNoOffer", err)
	}
	if _, err := o.Accept(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Accept: %v, want ErrClosed", err)
	}
}

func TestCancelled(t *testing.T) {
	s := startServer(t)
	nc := connect(t, s)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	t.Run("offer", func(t *testing.T) {
		if _, err := Offer(cancelled, nc, 2); !errors.Is(err, context.Canceled) {
			t.Fatalf("Offer: %v, want context.Canceled", err)
		}
	})
	t.Run("accept", func(t *testing.T) {
		o, err := Offer(context.Background(), nc, 2)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		acc := acceptAsync(ctx, o)
		cancel()
		if got := <-acc; !errors.Is(got.err, context.Canceled) {
			t.Fatalf("Accept: %v, want context.Canceled", got.err)
		}
	})
	t.Run("join", func(t *testing.T) {
		o, err := Offer(context.Background(), nc, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if _, err := Join(cancelled, nc, o.Code); !errors.Is(err, context.Canceled) {
			t.Fatalf("Join: %v, want context.Canceled", err)
		}
	})
	t.Run("close before accept", func(t *testing.T) {
		o, err := Offer(context.Background(), nc, 2)
		if err != nil {
			t.Fatal(err)
		}
		o.Close()
		o.Close()
		if _, err := o.Accept(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Accept after Close: %v, want ErrClosed", err)
		}
	})
}

// Many offers at once, crowded into a few numbers, never share one.
func TestOffersNeverShare(t *testing.T) {
	s := startServer(t)
	const conns, offers = 4, 24
	var ncs []*nats.Conn
	for range conns {
		ncs = append(ncs, connect(t, s))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type made struct {
		o   *Offering
		err error
	}
	ch := make(chan made, offers)
	for i := range offers {
		go func() {
			o, err := Offer(ctx, ncs[i%conns], 2, withNumbers(8))
			ch <- made{o, err}
		}()
	}
	held := map[int]bool{}
	for range offers {
		m := <-ch
		if m.err != nil {
			t.Error(m.err)
			continue
		}
		defer m.o.Close()
		if held[m.o.Code.Number] {
			t.Errorf("number %d offered twice", m.o.Code.Number)
		}
		held[m.o.Code.Number] = true
	}
}

// rawJoiner plays a joiner by hand: hello, then its own pake1.
func rawJoiner(t *testing.T, nc *nats.Conn, c Code, password string) (sess string, joiner [idLen]byte) {
	t.Helper()
	rand.Read(joiner[:])
	m, err := nc.Request(subject(c.Number), message{typ: tHello, id: joiner}.encode(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	here, err := decode(m.Data)
	if err != nil || here.typ != tHere {
		t.Fatalf("hello answered %v, %v", here, err)
	}
	sess = sessionSubject(c.Number, here.id)
	ci, sid := sessionInputs(c.Number, here.id, joiner)
	msgA, _, _ := cpace.Start([]byte(password), cpace.ContextInfo{CI: ci, SID: sid})
	m, err = nc.Request(sess, message{typ: tPake1, id: joiner, pake: msgA}.encode(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p2, err := decode(m.Data); err != nil || p2.typ != tPake2 {
		t.Fatalf("pake1 answered %v, %v", p2, err)
	}
	return sess, joiner
}

// A joiner that guessed and then went silent (or whose "fail" was lost)
// burns the code: the offer ends with ErrWrongCode after the step timeout,
// and the real joiner is told the code is in use, then that it is gone.
func TestSilentGuessBurns(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := Offer(ctx, connect(t, s), 2, WithStepTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	acc := acceptAsync(ctx, o)
	rawJoiner(t, connect(t, s), o.Code, "acid-acorn")
	_, jerr := Join(ctx, connect(t, s), o.Code)
	got := <-acc
	if !errors.Is(jerr, ErrInUse) && !errors.Is(jerr, ErrNoOffer) {
		t.Errorf("real join: %v, want ErrInUse or ErrNoOffer", jerr)
	}
	if !errors.Is(got.err, ErrWrongCode) {
		t.Fatalf("offer: %v, want ErrWrongCode", got.err)
	}
	if _, err := Join(ctx, connect(t, s), o.Code); !errors.Is(err, ErrNoOffer) {
		t.Fatalf("join after the burn: %v, want ErrNoOffer", err)
	}
}

// Strangers' messages that are no complete PAKE attempt (garbage, probes,
// hellos, invalid shares, confirmations and fails of no exchange) do not
// burn the code.
func TestStrangersDoNotBurn(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := Offer(ctx, connect(t, s), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	acc := acceptAsync(ctx, o)
	nc := connect(t, s)
	var stranger [idLen]byte
	rand.Read(stranger[:])
	identity := make([]byte, pakeLen)
	identity[0], identity[pakeLen-1] = 32, 0
	sess := sessionSubject(o.Code.Number, o.id)
	for _, m := range []struct {
		subj string
		data []byte
	}{
		{sess, message{typ: tFail, id: stranger}.encode()},
		{subject(o.Code.Number), []byte("garbage")},
		{subject(o.Code.Number), message{typ: tProbe, id: stranger}.encode()},
		{subject(o.Code.Number), message{typ: tHello, id: stranger}.encode()},
		{sess, []byte{wireVersion}},
		{sess, message{typ: tPake1, id: stranger, pake: identity}.encode()},
		{sess, message{typ: tConfirm, id: stranger, tag: make([]byte, cpace.TagSize)}.encode()},
	} {
		if len(m.data) > 1 && m.data[1] == byte(tFail) {
			// A fail gets no answer; the answered requests after it show
			// that the offer has handled it.
			if err := nc.Publish(m.subj, m.data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := nc.Request(m.subj, m.data, 10*time.Second); err != nil {
			t.Fatalf("request %x: %v", m.data, err)
		}
	}
	jsec, jerr := Join(ctx, connect(t, s), o.Code)
	got := <-acc
	if jerr != nil || got.err != nil || jsec != got.sec {
		t.Fatalf("join %v, offer %v", jerr, got.err)
	}
}
