package i18n

import (
	"fmt"
	"strings"
	"testing"
)

// replacerFill is what fill did before it scanned by hand: the reference
// its answers must equal.
func replacerFill(s string, args []any) string {
	if len(args) == 0 || !strings.Contains(s, "{") {
		return s
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func TestFillIsTheReplacer(t *testing.T) {
	args := [][]any{
		nil,
		{"a"},
		{"a", 1},
		{"a", 1, "b", "two"},
		{"a", "{b}", "b", "x"},        // never inside a value it put in
		{"a", "first", "a", "second"}, // the first pair of a name wins
		{"", "empty"},
		{"minutes", 15, "address", "user@example.test", "extra"},
	}
	for _, s := range []string{
		"", "plain", "{a}", "{a} and {b}", "{{a}}", "{a{b}", "{a", "a}", "}{a}{", "{}", "{c}",
		"Your code expires in {minutes} minutes, {address}.", "{a}{a}{b}{a}", "ünïcødé {a} ✓",
	} {
		for _, a := range args {
			if got, want := fill(s, a), replacerFill(s, a); got != want {
				t.Errorf("fill(%q, %v) = %q, the replacer says %q", s, a, got, want)
			}
		}
	}
}

func FuzzFill(f *testing.F) {
	f.Add("{a} and {b}", "a", "1", "b", "2")
	f.Add("{{a}}", "a", "{a}", "a", "x")
	f.Fuzz(func(t *testing.T, s, n1, v1, n2, v2 string) {
		if strings.ContainsAny(n1+n2, "{}") {
			t.Skip("a placeholder's name has no braces")
		}
		a := []any{n1, v1, n2, v2}
		if got, want := fill(s, a), replacerFill(s, a); got != want {
			t.Errorf("fill(%q, %q) = %q, the replacer says %q", s, a, got, want)
		}
	})
}

func BenchmarkFill(b *testing.B) {
	args := []any{"minutes", 15, "address", "user@example.test"}
	for b.Loop() {
		fill("Your code expires in {minutes} minutes. It was sent to {address}.", args)
	}
}
