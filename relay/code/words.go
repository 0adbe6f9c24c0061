package code

import (
	_ "embed"
	"fmt"
	"strings"
)

// wordsTxt is the EFF short word list #1, one word a line; see WORDS-LICENSE.
//
//go:embed words.txt
var wordsTxt string

// NumWords is the number of words in the list.
const NumWords = 1296

// wordList holds the list in its order; wordIndex maps a word to its place.
var wordList, wordIndex = loadWords(wordsTxt)

// loadWords splits the embedded list and checks it: NumWords distinct
// words of lower-case letters. The list is part of the binary, so a bad
// one is a build mistake and panics at start (the tests load it too).
func loadWords(txt string) ([]string, map[string]int) {
	list := strings.Fields(txt)
	index := make(map[string]int, len(list))
	for i, w := range list {
		if !isLower(w) {
			panic(fmt.Sprintf("relay/code: word %q of words.txt is not lower-case letters", w))
		}
		if _, dup := index[w]; dup {
			panic(fmt.Sprintf("relay/code: word %q twice in words.txt", w))
		}
		index[w] = i
	}
	if len(list) != NumWords {
		panic(fmt.Sprintf("relay/code: words.txt has %d words, want %d", len(list), NumWords))
	}
	return list, index
}

func isLower(w string) bool {
	if w == "" {
		return false
	}
	for _, c := range []byte(w) {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// closest returns the list word nearest to w by edit distance; among
// equals, the one sharing the longest prefix with w, then the first in
// list order ("aple" gives "apple" rather than "ample").
func closest(w string) string {
	best, bestD, bestP := "", 1<<30, 0
	for _, cand := range wordList {
		d := editDistance(w, cand, bestD+1)
		p := commonPrefix(w, cand)
		if d < bestD || (d == bestD && p > bestP) {
			best, bestD, bestP = cand, d, p
		}
	}
	return best
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// editDistance is the Levenshtein distance of a and b, or some value
// >= limit once it is known to reach limit.
func editDistance(a, b string, limit int) int {
	if len(a) > 64 {
		a = a[:64] // a code word is at most 5 letters; do not spend on junk
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
