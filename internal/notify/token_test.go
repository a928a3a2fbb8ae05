package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/secret"
)

var (
	oldKey  = secret.Hasher{Secrets: [][]byte{[]byte("old-secret-old-secret-old-secret")}}
	rotated = secret.Hasher{Secrets: [][]byte{[]byte("new-secret-new-secret-new-secret"), []byte("old-secret-old-secret-old-secret")}}
	other   = secret.Hasher{Secrets: [][]byte{[]byte("other-secret-other-secret-other!")}}
)

func sampleToken() *Token {
	return &Token{
		IdentityID: uuid.New(), EventID: uuid.New(), EventType: audit.AdminRecoveryCodeCreated,
		EventTime: time.Date(2026, 12, 5, 5, 30, 1, 123e6, time.UTC), Recipient: 1,
		ExpiresAt: time.Date(2026, 12, 12, 5, 30, 1, 456e6, time.UTC),
	}
}

// TestTokenRoundTrip: what a link carries comes back from it, under the
// secret that signed it and after a rotation.
func TestTokenRoundTrip(t *testing.T) {
	want := sampleToken()
	for _, et := range linkEvents {
		want.EventType = et
		v, ok := encodeToken(oldKey, want)
		if !ok || len(v) != linkTokenLength || !alphanumeric(v) {
			t.Fatalf("%s: token %q (%v): want %d alphanumerics", et, v, ok, linkTokenLength)
		}
		for _, h := range []secret.Hasher{oldKey, rotated} {
			got, ok := decodeToken(h, v)
			if !ok {
				t.Fatalf("%s: a token signed with the old secret rejected", et)
			}
			if *got != *want {
				t.Errorf("%s: decoded %+v, want %+v", et, *got, *want)
			}
		}
	}
	// Two recipients of one event get different links.
	a, _ := encodeToken(oldKey, want)
	want.Recipient = 0
	if b, _ := encodeToken(oldKey, want); a == b {
		t.Error("two recipients got the same link")
	}
}

// TestTokenRejected: a token is accepted only as signed, whole and
// unchanged; nothing else decodes.
func TestTokenRejected(t *testing.T) {
	valid, _ := encodeToken(oldKey, sampleToken())
	flip := func(i int) string {
		b := []byte(valid)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	for _, c := range []struct{ name, value string }{
		{"empty", ""},
		{"legacy length", strings.Repeat("A", legacyTokenLength)},
		{"one short", valid[1:]},
		{"one long", valid + "0"},
		{"a digit changed in the payload", flip(10)},
		{"a digit changed in the MAC", flip(linkTokenLength - 1)},
		{"not alphanumeric", valid[:40] + "-" + valid[41:]},
		{"a sign", "+" + valid[1:]},
		{"the largest digits", strings.Repeat("Z", linkTokenLength)},
		{"all zeros", strings.Repeat("0", linkTokenLength)},
	} {
		if _, ok := decodeToken(oldKey, c.value); ok {
			t.Errorf("%s: %q accepted", c.name, c.value)
		}
	}
	if _, ok := decodeToken(other, valid); ok {
		t.Error("a token signed with an unknown secret accepted")
	}
	if _, ok := encodeToken(oldKey, &Token{EventType: audit.LockdownConfirmed}); ok {
		t.Error("a link for an event type no link answers")
	}
	if _, ok := encodeToken(oldKey, &Token{EventType: audit.PasswordChanged, Recipient: 256}); ok {
		t.Error("a recipient index the token cannot hold")
	}
}

// TestEveryNotificationHasALink: each event mailed about with a lockdown
// link has a number in linkEvents, so Prepare never fails to make one.
func TestEveryNotificationHasALink(t *testing.T) {
	for et := range templates {
		if et == audit.LockdownConfirmed {
			continue
		}
		if _, ok := encodeToken(oldKey, &Token{EventType: et}); !ok {
			t.Errorf("%s is mailed about but has no link number", et)
		}
	}
}
