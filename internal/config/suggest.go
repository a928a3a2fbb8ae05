package config

import (
	"slices"
	"strings"
)

// nearest is the candidate closest to key by edit distance, for a "did
// you mean" after an unknown key, or "" when none is close enough to be
// a misspelling: at most one edit per three letters of key's last
// segment (the part that is unknown), at least one and at most three.
// Ties go to the first candidate in sorted order, so the suggestion is
// the same on every run.
func nearest(key string, candidates []string) string {
	last := key[strings.LastIndexByte(key, '.')+1:]
	limit := min(max(len(last)/3, 1), 3)
	best, bestDist := "", limit+1
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		if d := editDistance(key, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance counts the single-character insertions, deletions,
// substitutions and swaps of neighbours that turn a into b (optimal
// string alignment distance): a swapped pair, the commonest typo
// ("prot"), counts as one edit.
func editDistance(a, b string) int {
	// Rows i-2, i-1 and i of the (len(a)+1)×(len(b)+1) table.
	prev2, prev, cur := make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
