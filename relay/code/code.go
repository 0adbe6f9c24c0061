package code

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Limits of a code.
const (
	// DefaultWords is the number of words New gives by default: 2 words of
	// the 1296-word list, about 20.7 bits, one online guess per code.
	DefaultWords = 2
	// MinWords and MaxWords bound the words of a code.
	MinWords = 2
	MaxWords = 8
	// MaxNumber is the largest code number.
	MaxNumber = 999999
	// maxCodeLen bounds the text Parse looks at.
	maxCodeLen = 256
)

// A Code is a number and two or more words, written "7-apple-river". The
// number picks the rendezvous on the relay and is public; the words are
// the secret both sides share (the PAKE password).
type Code struct {
	Number int
	Words  []string
}

// New returns a code of nwords words drawn uniformly with crypto/rand from
// the word list, and a random number in 1..999 (Offer replaces the number
// with one it claims on the relay).
func New(nwords int) (Code, error) {
	if nwords < MinWords || nwords > MaxWords {
		return Code{}, fmt.Errorf("%w: %d words asked for, a code has %d to %d", ErrBadCode, nwords, MinWords, MaxWords)
	}
	c := Code{Number: 1 + randIntn(999), Words: make([]string, nwords)}
	for i := range c.Words {
		c.Words[i] = wordList[randIntn(NumWords)]
	}
	return c, nil
}

// randIntn returns a uniform integer in [0, n) from crypto/rand.
func randIntn(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err) // crypto/rand does not fail since Go 1.24
	}
	return int(v.Int64())
}

// String writes the code as it is printed and typed: "7-apple-river".
func (c Code) String() string {
	return strconv.Itoa(c.Number) + "-" + strings.Join(c.Words, "-")
}

// password is the PAKE password: the words, lower-case, joined by "-".
// The number is not part of it: it is public.
func (c Code) password() []byte {
	return []byte(strings.Join(c.Words, "-"))
}

// Parse reads a code as a user typed or pasted it: case does not matter,
// surrounding white space is ignored, and the parts may be separated by
// "-" or spaces. Its errors match ErrBadCode and say what to fix; an
// unknown word comes with the closest word of the list.
func Parse(s string) (Code, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxCodeLen {
		return Code{}, fmt.Errorf("%w: %d characters, a code is a number and a few short words, like 7-apple-river", ErrBadCode, len(s))
	}
	parts := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return r == '-' || r == ' ' || r == '\t'
	})
	if len(parts) == 0 {
		return Code{}, fmt.Errorf("%w: it is empty: give the code the sender printed, like 7-apple-river", ErrBadCode)
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || !isDigits(parts[0]) || n < 1 || n > MaxNumber {
		return Code{}, fmt.Errorf("%w: %q does not start with a number from 1 to %d: a code looks like 7-apple-river", ErrBadCode, s, MaxNumber)
	}
	words := parts[1:]
	if len(words) < MinWords || len(words) > MaxWords {
		return Code{}, fmt.Errorf("%w: %d words after the number, a code has %d to %d (like 7-apple-river): check you copied all of it", ErrBadCode, len(words), MinWords, MaxWords)
	}
	for _, w := range words {
		if _, ok := wordIndex[w]; !ok {
			return Code{}, fmt.Errorf("%w: %q is not a word of the code list: did you mean %q? check the code you were given", ErrBadCode, w, closest(w))
		}
	}
	return Code{Number: n, Words: words}, nil
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
