package flow

import "testing"

// TestWhatAnExpiredFormKeeps: identifiers, addresses and traits shown back
// in a visible input; never a secret, a hidden value or a button.
func TestWhatAnExpiredFormKeeps(t *testing.T) {
	for _, tc := range []struct {
		name, inputType string
		keep            bool
	}{
		{"identifier", "text", true},
		{"email", "email", true},
		{"traits.email", "email", true},
		{"traits.name.first", "text", true},
		{"traits.phone", "tel", true},
		{"password", "password", false},
		{"traits.secret", "password", false},
		{"code", "text", false},
		{"totp_code", "text", false},
		{"lookup_secret", "text", false},
		{"token", "hidden", false},
		{"csrf_token", "hidden", false},
		{"traits.email", "hidden", false}, // a later screen's copy is not typed
		{"method", "submit", false},
	} {
		if got := safeToKeep(tc.name) && shownBack(tc.inputType); got != tc.keep {
			t.Errorf("%s (%s): keep = %v, want %v", tc.name, tc.inputType, got, tc.keep)
		}
	}
}
