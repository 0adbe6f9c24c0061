package cpace

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

// unhex decodes a test vector written as the draft prints it (lines of
// hex, spaces and line breaks ignored).
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad test vector: %v", err)
	}
	return b
}

func scalar(t testing.TB, s string) *ristretto255.Scalar {
	t.Helper()
	y := ristretto255.NewScalar()
	if err := y.Decode(unhex(t, s)); err != nil {
		t.Fatalf("bad scalar: %v", err)
	}
	return y
}

// The string utilities' vectors (draft appendix "Definition and test
// vectors for string utility functions").
func TestEncodingVectors(t *testing.T) {
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"prepend_len empty", prependLen(nil, nil), "00"},
		{"prepend_len 1234", prependLen(nil, []byte("1234")), "0431323334"},
		{"prepend_len 127", prependLen(nil, seq(127)), "7f" + hex.EncodeToString(seq(127))},
		{"prepend_len 128", prependLen(nil, seq(128)), "8001" + hex.EncodeToString(seq(128))},
		{"lv_cat", lvCat([]byte("1234"), []byte("5"), nil, []byte("678")), "043132333401350003363738"},
		{"transcript_ir 1", append(lvCat([]byte("123"), []byte("PartyA")), lvCat([]byte("234"), []byte("PartyB"))...),
			"03313233065061727479410332333406506172747942"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hex.EncodeToString(tc.got); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	for _, n := range []int{0, 1, 127, 128, 200, 16383, 16384} {
		if got, want := lenLV(n), len(prependLen(nil, make([]byte, n))); got != want {
			t.Errorf("lenLV(%d) = %d, want %d", n, got, want)
		}
	}
}

// The draft's test vector for CPace with ristretto255 and SHA-512
// (appendix "Test vector for CPace using group ristretto255 and hash
// SHA-512"), initiator-responder setting.
var vec = struct {
	prs, ci, sid, ya, ada, yb, adb string
	genString, g, Ya, Yb, K, isk   string
}{
	prs: "50617373776f7264", // "Password"
	ci:  "0b415f696e69746961746f720b425f726573706f6e646572",
	sid: "7e4b4791d6a8ef019b936c79fb7f2c57",
	ya:  "da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08",
	ada: "414461",
	yb:  "d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d",
	adb: "414462",
	genString: `11435061636552697374726574746f3235350850617373776f726464
      00000000000000000000000000000000000000000000000000000000
      00000000000000000000000000000000000000000000000000000000
      00000000000000000000000000000000000000000000000000000000
      00000000000000000000000000000000180b415f696e69746961746f
      720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f
      2c57`,
	g:  "222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56",
	Ya: "d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157",
	Yb: "3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258",
	K:  "80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f",
	isk: `b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dc
      ae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c
      3fa2068af7900447`,
}

func TestDraftVectors(t *testing.T) {
	prs, ci, sid := unhex(t, vec.prs), unhex(t, vec.ci), unhex(t, vec.sid)
	if got := generatorString(prs, ci, sid); !bytes.Equal(got, unhex(t, vec.genString)) {
		t.Fatalf("generator_string:\n got %x\nwant %s", got, vec.genString)
	}
	if got := generator(prs, ci, sid).Encode(nil); !bytes.Equal(got, unhex(t, vec.g)) {
		t.Fatalf("generator: got %x, want %s", got, vec.g)
	}

	msgA, st, err := start(prs, ContextInfo{CI: ci, SID: sid, AD: unhex(t, vec.ada)}, scalar(t, vec.ya))
	if err != nil {
		t.Fatal(err)
	}
	if want := lvCat(unhex(t, vec.Ya), unhex(t, vec.ada)); !bytes.Equal(msgA, want) {
		t.Fatalf("msgA: got %x, want %x", msgA, want)
	}
	msgB, keyB, err := respond(prs, ContextInfo{CI: ci, SID: sid, AD: unhex(t, vec.adb)}, msgA, scalar(t, vec.yb))
	if err != nil {
		t.Fatal(err)
	}
	if want := lvCat(unhex(t, vec.Yb), unhex(t, vec.adb)); !bytes.Equal(msgB, want) {
		t.Fatalf("msgB: got %x, want %x", msgB, want)
	}
	keyA, err := st.Finish(msgB)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, vec.isk)
	if !bytes.Equal(keyA, want) || !bytes.Equal(keyB, want) {
		t.Fatalf("ISK:\n A %x\n B %x\nwant %x", keyA, keyB, want)
	}

	// K itself, from both sides.
	yaElt, _, _ := DecodeMessage(msgA)
	ybElt, _, _ := DecodeMessage(msgB)
	for _, k := range [][]byte{
		must(scalarMultVfy(scalar(t, vec.ya), ybElt)),
		must(scalarMultVfy(scalar(t, vec.yb), yaElt)),
	} {
		if !bytes.Equal(k, unhex(t, vec.K)) {
			t.Errorf("K: got %x, want %s", k, vec.K)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// The draft's scalar_mult_vfy vectors: a valid point, an invalid encoding
// and the identity.
func TestScalarMultVfyVectors(t *testing.T) {
	s := scalar(t, "7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05")
	tests := []struct {
		name    string
		x, want string
		err     error
	}{
		{"valid", "2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c",
			"7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e", nil},
		{"invalid Y_i1", "2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c", "", ErrInvalidMessage},
		{"identity Y_i2", "0000000000000000000000000000000000000000000000000000000000000000", "", ErrIdentity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := DecodeMessage(lvCat(unhex(t, tc.x), nil))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %v, want %v", err, tc.err)
				}
				// And a run with it as msgA or msgB aborts.
				if _, _, err := Respond([]byte("pw"), ContextInfo{}, lvCat(unhex(t, tc.x), nil)); !errors.Is(err, tc.err) {
					t.Errorf("Respond: got %v, want %v", err, tc.err)
				}
				_, st, _ := Start([]byte("pw"), ContextInfo{})
				if _, err := st.Finish(lvCat(unhex(t, tc.x), nil)); !errors.Is(err, tc.err) {
					t.Errorf("Finish: got %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := must(scalarMultVfy(s, p)); !bytes.Equal(got, unhex(t, tc.want)) {
				t.Errorf("got %x, want %s", got, tc.want)
			}
		})
	}
}

func TestAgreement(t *testing.T) {
	base := ContextInfo{CI: []byte("ci"), SID: []byte("0123456789abcdef")}
	tests := []struct {
		name     string
		pwA, pwB string
		ciB      ContextInfo
		agree    bool
	}{
		{"same password", "apple-river", "apple-river", base, true},
		{"wrong password", "apple-river", "apple-rover", base, false},
		{"empty passwords", "", "", base, true},
		{"different CI", "apple-river", "apple-river", ContextInfo{CI: []byte("cj"), SID: base.SID}, false},
		{"different sid", "apple-river", "apple-river", ContextInfo{CI: base.CI, SID: []byte("0123456789abcdeF")}, false},
		{"with AD", "apple-river", "apple-river", ContextInfo{CI: base.CI, SID: base.SID, AD: []byte("offer")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgA, st, err := Start([]byte(tc.pwA), base)
			if err != nil {
				t.Fatal(err)
			}
			msgB, keyB, err := Respond([]byte(tc.pwB), tc.ciB, msgA)
			if err != nil {
				t.Fatal(err)
			}
			keyA, err := st.Finish(msgB)
			if err != nil {
				t.Fatal(err)
			}
			if len(keyA) != KeySize || len(keyB) != KeySize {
				t.Fatalf("key sizes %d, %d", len(keyA), len(keyB))
			}
			if got := bytes.Equal(keyA, keyB); got != tc.agree {
				t.Fatalf("keys equal = %v, want %v", got, tc.agree)
			}
			// Key confirmation follows the keys.
			tagB := Tag(keyB, tc.ciB.SID, msgB)
			if got := VerifyTag(keyA, base.SID, msgB, tagB); got != tc.agree {
				t.Errorf("A accepts B's tag = %v, want %v", got, tc.agree)
			}
			if _, err := st.Finish(msgB); !errors.Is(err, ErrFinished) {
				t.Errorf("second Finish: %v, want ErrFinished", err)
			}
		})
	}
}

// Any change to a message in flight makes the keys differ (or the message
// invalid): the transcript binds both messages.
func TestMalleatedMessages(t *testing.T) {
	ci := ContextInfo{CI: []byte("ci"), SID: []byte("sid"), AD: []byte("ad")}
	pw := []byte("apple-river")
	for i := 0; i < 2*(1+ElementSize+1+2); i++ {
		msgA, st, _ := Start(pw, ci)
		msgB, keyB, _ := Respond(pw, ci, msgA)
		var keyA []byte
		var err error
		side := "B"
		if i < len(msgB) {
			m := clone(msgB)
			m[i] ^= 0x01
			keyA, err = st.Finish(m)
		} else if j := i - len(msgB); j < len(msgA) {
			side = "A"
			m := clone(msgA)
			m[j] ^= 0x01
			msgB, keyB, err = Respond(pw, ci, m)
			if err == nil {
				keyA, err = st.Finish(msgB)
			}
		} else {
			continue
		}
		if err == nil && bytes.Equal(keyA, keyB) {
			t.Errorf("flipping byte %d of msg%s: both sides still agree", i, side)
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	good := lvCat(unhex(t, vec.Ya), []byte("ad"))
	tests := []struct {
		name string
		msg  []byte
		err  error
	}{
		{"good", good, nil},
		{"empty", nil, ErrInvalidMessage},
		{"short share", lvCat(make([]byte, 31), nil), ErrInvalidMessage},
		{"long share", lvCat(make([]byte, 33), nil), ErrInvalidMessage},
		{"no AD field", good[:33], ErrInvalidMessage},
		{"trailing byte", append(clone(good), 0), ErrInvalidMessage},
		{"truncated AD", good[:len(good)-1], ErrInvalidMessage},
		{"non-minimal length", append([]byte{0xa0, 0x00}, good[1:]...), ErrInvalidMessage},
		{"AD too long", lvCat(unhex(t, vec.Ya), make([]byte, MaxAD+1)), ErrInvalidMessage},
		{"AD at the limit", lvCat(unhex(t, vec.Ya), make([]byte, MaxAD)), nil},
		{"length field too long", append(lvCat(unhex(t, vec.Ya)), 0x80, 0x80, 0x80, 0x01), ErrInvalidMessage},
		{"identity", lvCat(make([]byte, 32), nil), ErrIdentity},
		{"non-canonical", lvCat(bytes.Repeat([]byte{0xff}, 32), nil), ErrInvalidMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeMessage(tc.msg)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "farpipe: ") {
				t.Errorf("error %q does not start with farpipe:", err)
			}
		})
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(lvCat(unhex(f, vec.Ya), []byte("ADa")))
	f.Add(lvCat(make([]byte, 32), nil))
	f.Add([]byte{0x20})
	f.Add([]byte{0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, msg []byte) {
		y, ad, err := DecodeMessage(msg)
		if err != nil {
			if !errors.Is(err, ErrInvalidMessage) && !errors.Is(err, ErrIdentity) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		// A valid message re-encodes to itself (the encoding is canonical),
		// and answering it works.
		if got := lvCat(y.Encode(nil), ad); !bytes.Equal(got, msg) {
			t.Fatalf("re-encoding %x gives %x", msg, got)
		}
		if _, _, err := Respond([]byte("pw"), ContextInfo{}, msg); err != nil {
			t.Fatalf("Respond to a valid message: %v", err)
		}
	})
}
