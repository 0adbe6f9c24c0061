package code

import (
	"errors"
	"strings"
	"testing"
)

func TestWordList(t *testing.T) {
	if len(wordList) != NumWords || len(wordIndex) != NumWords {
		t.Fatalf("%d words, %d indexed, want %d", len(wordList), len(wordIndex), NumWords)
	}
	for _, w := range []string{"acid", "apple", "river", "yarn", "zoom"} {
		if _, ok := wordIndex[w]; !ok {
			t.Errorf("%q missing", w)
		}
	}
	if _, ok := wordIndex["yo-yo"]; ok {
		t.Error(`"yo-yo" is in the list; it cannot be written in a code`)
	}
	for _, bad := range []string{"acid\nacid\n", "Acid\n", "yo-yo\n"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("loadWords(%q) accepted a bad list", bad)
				}
			}()
			loadWords(bad)
		}()
	}
}

func TestNew(t *testing.T) {
	for _, n := range []int{2, 3, MaxWords} {
		c, err := New(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Words) != n || c.Number < 1 || c.Number > 999 {
			t.Fatalf("New(%d) = %v", n, c)
		}
		back, err := Parse(c.String())
		if err != nil || back.String() != c.String() {
			t.Fatalf("Parse(%q) = %v, %v", c, back, err)
		}
	}
	for _, n := range []int{-1, 0, 1, MaxWords + 1} {
		if _, err := New(n); !errors.Is(err, ErrBadCode) {
			t.Errorf("New(%d): %v, want ErrBadCode", n, err)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    string // the code's String, or a part of the error
		wantErr bool
	}{
		{"7-apple-river", "7-apple-river", false},
		{"7-Apple-RIVER", "7-apple-river", false},
		{"  7 apple river\n", "7-apple-river", false},
		{"007-apple-river", "7-apple-river", false},
		{"999999-acid-zoom-yarn", "999999-acid-zoom-yarn", false},
		{"", "empty", true},
		{"apple-river", "number", true},
		{"7-apple", "1 words", true},
		{"7", "0 words", true},
		{"7-aple-river", `did you mean "apple"`, true},
		{"7-apple-rivr", `did you mean "river"`, true},
		{"0-apple-river", "number", true},
		{"-7-apple-river", "7-apple-river", false}, // a leading separator is dropped
		{"1000000-apple-river", "number", true},
		{"+7-apple-river", "number", true},
		{"7-a-b-c-d-e-f-g-h-i", "9 words", true},
		{strings.Repeat("7-apple-", 40), "characters", true},
		{"7-yo-yo", `"yo" is not a word`, true},
		{"7-äpple-river", "not a word", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c, err := Parse(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadCode) {
					t.Fatalf("Parse: %v, want ErrBadCode", err)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "farpipe: ") || strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) {
					t.Fatalf("error %q: want one farpipe: line containing %q", msg, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != tc.want {
				t.Fatalf("got %q, want %q", c, tc.want)
			}
		})
	}
}

func TestClosest(t *testing.T) {
	tests := map[string]string{"aple": "apple", "zooom": "zoom", "acid": "acid", "yoyo": "yoyo", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx": "acid"}
	for in, want := range tests {
		if got := closest(in); got != want && len(in) < 10 {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"7-apple-river", "7 aple", "0-", "-", "999999999999999999999-a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrBadCode) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if back, err := Parse(c.String()); err != nil || back.String() != c.String() {
			t.Fatalf("%q parses to %q, which gives %v, %v", s, c, back, err)
		}
	})
}
