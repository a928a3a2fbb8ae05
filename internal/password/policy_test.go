package password_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/password"
)

func MustPolicy(t testing.TB, cfg password.PolicyConfig) *password.Policy {
	t.Helper()
	p, err := password.NewPolicy(cfg)
	if err != nil {
		t.Fatalf("NewPolicy(%+v): %v", cfg, err)
	}
	return p
}

const strong = "t7#Qm!v9Lp@2xZr" // random; on no list, like no identifier

func TestPolicy(t *testing.T) {
	def := password.DefaultPolicyConfig()
	noBreach := def
	noBreach.BreachCheck = false
	noSimilarity := def
	noSimilarity.IdentifierSimilarityCheck = false
	lenient := def
	lenient.MaxBreaches = 2885 // qwertyuiop was seen exactly 2885 times
	argon := def
	argon.MaxLength = 0
	min12 := def
	min12.MinLength = 12

	tooSimilar := &password.Violation{ID: 4000031, Text: "The password can not be used because it is too similar to the identifier."}
	tooShort := func(min, got int) *password.Violation {
		return &password.Violation{ID: 4000032,
			Text:    "The password must be at least " + strconv.Itoa(min) + " characters long, but got " + strconv.Itoa(got) + ".",
			Context: map[string]any{"min_length": min, "actual_length": got}}
	}
	tooLong := func(max, got int) *password.Violation {
		return &password.Violation{ID: 4000033,
			Text:    "The password must be at most " + strconv.Itoa(max) + " characters long, but got " + strconv.Itoa(got) + ".",
			Context: map[string]any{"max_length": max, "actual_length": got}}
	}
	breached := func(n int) *password.Violation {
		return &password.Violation{ID: 4000034,
			Text:    "The password has been found in data breaches and must no longer be used.",
			Context: map[string]any{"breaches": n}}
	}
	user := []string{"user@example.com"}

	for _, tc := range []struct {
		name        string
		cfg         password.PolicyConfig
		identifiers []string
		password    string
		want        *password.Violation
	}{
		{"StrongPasswordAccepted", def, user, strong, nil},
		{"StrongPasswordWithoutIdentifiersAccepted", def, nil, strong, nil},

		{"TooShort", def, user, "abc", tooShort(8, 3)},
		{"EmptyIsTooShort", def, user, "", tooShort(8, 0)},
		{"SevenBytesTooShort", def, user, "Xq7#pL2", tooShort(8, 7)},
		{"EightBytesLongEnough", def, user, "Xq7#pL2!", nil},
		{"LengthCountsBytesNotCharacters", def, user, "ÆøÅ€", nil},   // 4 characters, 9 bytes
		{"MultiByteStillTooShort", def, user, "äöü", tooShort(8, 6)}, // 3 characters, 6 bytes
		{"ConfiguredMinimum", min12, user, "Xq7#pL2!zR4", tooShort(12, 11)},
		{"TooLongForBcrypt", def, user, strings.Repeat("Zq9!", 18) + "x", tooLong(72, 73)},
		{"ExactlyBcryptLimit", def, user, strings.Repeat("Zq9!", 18), nil},
		{"NoMaximumForArgon2", argon, user, strings.Repeat("Zq9!", 50), nil},

		{"IdentifierPlusOneCharIsTooSimilar", def, user, "user@example.com1", tooSimilar},
		{"IdentifierItselfIsTooSimilar", def, user, "user@example.com", tooSimilar},
		{"SimilarityIgnoresCase", def, user, "USER@Example.COM", tooSimilar},
		{"FewEditsAreTooSimilar", def, user, "usr@exmple.c0m", tooSimilar},
		{"LongCommonSubstringIsTooSimilar", def, []string{"johnnyappleseed"}, "appleseed99", tooSimilar},
		{"HalfCommonIsAllowed", def, []string{"johnnyappleseed"}, "seedX7#qLm", nil},
		{"AnyIdentifierCounts", def, []string{"someone@example.org", "user@example.com"}, "user@example.com1", tooSimilar},
		{"EmptyIdentifierIgnored", def, []string{""}, strong, nil},
		{"SimilarityCheckOff", noSimilarity, user, "user@example.com1", nil},

		{"BreachedPassword", def, user, "password", breached(20785)},
		{"Breached123456789", def, user, "123456789", breached(11696)},
		{"BreachedQwertyuiop", def, user, "qwertyuiop", breached(2885)},
		{"BreachedIgnoresCase", def, user, "PassWord", breached(20785)},
		{"BreachCheckOff", noBreach, user, "password", nil},
		{"MaxBreachesTolerated", lenient, user, "qwertyuiop", nil},
		{"MaxBreachesExceeded", lenient, user, "password", breached(20785)},

		// First violation wins, in the order length, similarity, breach.
		{"LengthBeforeBreach", def, user, "123456", tooShort(8, 6)},
		{"LengthBeforeSimilarity", def, []string{"abc"}, "abcd", tooShort(8, 4)},
		{"SimilarityBeforeBreach", def, []string{"password@x"}, "password", tooSimilar},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MustPolicy(t, tc.cfg).Validate(tc.identifiers, tc.password)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate(%q, %q)\n got %+v\nwant %+v", tc.identifiers, tc.password, got, tc.want)
			}
		})
	}
}

func TestNewPolicy(t *testing.T) {
	t.Run("ZeroMinimumMeansEight", func(t *testing.T) {
		p := MustPolicy(t, password.PolicyConfig{})
		if v := p.Validate(nil, "Xq7#pL2"); v == nil || v.ID != 4000032 || v.Context["min_length"] != 8 {
			t.Fatalf("Validate = %+v, want 4000032 with min_length 8", v)
		}
	})
	t.Run("RejectsBadConfig", func(t *testing.T) {
		for name, cfg := range map[string]password.PolicyConfig{
			"MinimumBelowSix":      {MinLength: 5},
			"MaximumBelowMinimum":  {MinLength: 10, MaxLength: 9},
			"NegativeMaximum":      {MaxLength: -1},
			"NegativeMaxBreaches":  {MaxBreaches: -1},
			"NegativeMinimumBelow": {MinLength: -8},
		} {
			if _, err := password.NewPolicy(cfg); err == nil {
				t.Errorf("%s: NewPolicy(%+v) succeeded", name, cfg)
			}
		}
	})
}
