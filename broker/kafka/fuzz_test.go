package kafka

import (
	"testing"
)

// FuzzParseParts: the part list of a result (bytes from the network) is
// parsed without panicking, and what it accepts is increasing offsets, as
// many as announced.
func FuzzParseParts(f *testing.F) {
	for _, seed := range []struct {
		b     string
		parts int
	}{
		{"1\n5\n9\n", 3}, {"0\n", 1}, {"", 0}, {"3\n2\n", 2}, {"-1\n", 1}, {"1\n1\n", 2},
		{"99999999999999999999\n", 1}, {"1\r\n2", 2}, {"\n\n", 2}, {"7", 1},
	} {
		f.Add([]byte(seed.b), seed.parts)
	}
	f.Fuzz(func(t *testing.T, b []byte, parts int) {
		offs, err := parseParts(b, parts)
		if err != nil {
			return
		}
		if len(offs) != parts {
			t.Fatalf("%d offsets, %d announced", len(offs), parts)
		}
		for i, o := range offs {
			if o < 0 || i > 0 && o <= offs[i-1] {
				t.Fatalf("offsets %v accepted", offs)
			}
		}
	})
}
