package password

import (
	"fmt"
	"strings"
	"sync"
)

// Kratos UI message ids of policy violations.
const (
	msgTooSimilar = 4000031
	msgTooShort   = 4000032
	msgTooLong    = 4000033
	msgBreached   = 4000034
)

// Similarity thresholds, as in Kratos: an edit distance below 5, or a
// common substring longer than half the password, is too similar.
const (
	minIdentifierDistance = 5
	maxCommonFraction     = 0.5
)

// PolicyConfig is the password policy (selfservice.methods.password.config).
type PolicyConfig struct {
	// MinLength is the shortest acceptable password in bytes: default 8
	// when zero, at least 6 (min_password_length).
	MinLength int
	// MaxLength is the longest acceptable password in bytes, 0 for no
	// limit. Set it to HashConfig.MaxPasswordLength (72 for bcrypt).
	MaxLength int
	// IdentifierSimilarityCheck refuses passwords too similar to one of the
	// identity's identifiers (identifier_similarity_check_enabled).
	IdentifierSimilarityCheck bool
	// BreachCheck refuses passwords on the embedded breach list
	// (haveibeenpwned_enabled; the check is offline).
	BreachCheck bool
	// MaxBreaches is how often a password may have been seen before it is
	// refused (max_breaches, default 0).
	MaxBreaches int
}

// DefaultPolicyConfig returns Kratos's defaults for the default hasher:
// at least 8 bytes, at most 72 (bcrypt), similarity and breach checks on,
// no breaches tolerated.
func DefaultPolicyConfig() PolicyConfig {
	return PolicyConfig{
		MinLength:                 8,
		MaxLength:                 BcryptMaxLength,
		IdentifierSimilarityCheck: true,
		BreachCheck:               true,
	}
}

// Violation is the first rule a password breaks, as a Kratos UI message:
// ID and Text are the message's id and English text, Context its context
// (nil when the message has none). The flow package shows it on the
// password node.
type Violation struct {
	ID      int
	Text    string
	Context map[string]any
}

// Policy checks new passwords (registration, settings). It is read-only
// and safe for concurrent use; build one and share it.
type Policy struct {
	cfg      PolicyConfig
	breaches func() *BreachList // nil when the breach check is off
}

// embeddedBreaches is the embedded breach list, decoded on the first
// password check (about 13 ms and 0.6 MB that a server which never sees a
// new password does not spend) and shared by every Policy. The list is
// part of the binary and TestEmbeddedBreachList decodes it, so a failure
// here is a broken build.
var embeddedBreaches = sync.OnceValue(func() *BreachList {
	l, err := EmbeddedBreachList()
	if err != nil {
		panic(err)
	}
	return l
})

// NewPolicy returns the policy cfg describes. With the breach check on,
// the embedded breach list is decoded on the first Validate.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	if cfg.MinLength == 0 {
		cfg.MinLength = 8
	}
	switch {
	case cfg.MinLength < 6:
		return nil, fmt.Errorf("password: minimum length %d is below 6", cfg.MinLength)
	case cfg.MaxLength < 0 || cfg.MaxLength > 0 && cfg.MaxLength < cfg.MinLength:
		return nil, fmt.Errorf("password: maximum length %d is below the minimum %d", cfg.MaxLength, cfg.MinLength)
	case cfg.MaxBreaches < 0:
		return nil, fmt.Errorf("password: max breaches %d is negative", cfg.MaxBreaches)
	}
	p := &Policy{cfg: cfg}
	if cfg.BreachCheck {
		p.breaches = embeddedBreaches
	}
	return p, nil
}

// Validate returns the first rule password breaks, checked in Kratos's
// order (length, similarity to each of identifiers, breaches), or nil when
// it is acceptable. Lengths are counted in bytes, as Kratos does. The
// caller handles an identity without identifiers (message 4000009) and
// "same as the old password" (4000039), which need more than the policy.
func (p *Policy) Validate(identifiers []string, password string) *Violation {
	n := len(password)
	if n < p.cfg.MinLength {
		return &Violation{
			ID:      msgTooShort,
			Text:    fmt.Sprintf("The password must be at least %d characters long, but got %d.", p.cfg.MinLength, n),
			Context: map[string]any{"min_length": p.cfg.MinLength, "actual_length": n},
		}
	}
	if p.cfg.MaxLength > 0 && n > p.cfg.MaxLength {
		return &Violation{
			ID:      msgTooLong,
			Text:    fmt.Sprintf("The password must be at most %d characters long, but got %d.", p.cfg.MaxLength, n),
			Context: map[string]any{"max_length": p.cfg.MaxLength, "actual_length": n},
		}
	}
	if p.cfg.IdentifierSimilarityCheck {
		for _, id := range identifiers {
			if tooSimilar(id, password) {
				return &Violation{
					ID:   msgTooSimilar,
					Text: "The password can not be used because it is too similar to the identifier.",
				}
			}
		}
	}
	if p.breaches != nil {
		if count, found := p.breaches().Breached(password); found && count > p.cfg.MaxBreaches {
			return &Violation{
				ID:      msgBreached,
				Text:    "The password has been found in data breaches and must no longer be used.",
				Context: map[string]any{"breaches": count},
			}
		}
	}
	return nil
}

// tooSimilar applies Kratos's rule case-insensitively, counting in
// characters (runes).
func tooSimilar(identifier, password string) bool {
	id := []rune(strings.ToLower(identifier))
	pw := []rune(strings.ToLower(password))
	if len(id) == 0 || len(pw) == 0 {
		return false
	}
	// The distance is at least the difference in length, and a common
	// substring is no longer than the identifier: a password much longer
	// than the identifier passes without the quadratic work below.
	if len(pw) >= len(id)+minIdentifierDistance && float64(len(id)) <= maxCommonFraction*float64(len(pw)) {
		return false
	}
	return levenshtein(id, pw) < minIdentifierDistance ||
		float64(longestCommonSubstring(id, pw)) > maxCommonFraction*float64(len(pw))
}

// levenshtein is the edit distance (insertions, deletions, substitutions)
// between a and b.
func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
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
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// longestCommonSubstring is the length of the longest run of characters
// that a and b share.
func longestCommonSubstring(a, b []rune) int {
	// run[j] is the length of the common run ending at a[i-1] and b[j-1].
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	best := 0
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
				best = max(best, cur[j])
			} else {
				cur[j] = 0
			}
		}
		prev, cur = cur, prev
	}
	return best
}
