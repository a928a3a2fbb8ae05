package totp

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/storeerr"
	"github.com/pquerna/otp/totp"
)

// memoryCredentials is one stored config with compare-and-swap, as
// identity.Service.SwapCredentialConfig behaves.
type memoryCredentials struct{ config json.RawMessage }

func (m *memoryCredentials) SwapCredentialConfig(_ context.Context, _ uuid.UUID, _ identity.CredentialType, old, next json.RawMessage) error {
	if string(old) != string(m.config) {
		return storeerr.ErrConflict
	}
	m.config = next
	return nil
}

func TestVerifierUse(t *testing.T) {
	cipher, err := secret.NewCipher([][]byte{[]byte("test-cipher-secret-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	id := uuid.New()
	key, err := Generate("Test", id.String())
	if err != nil {
		t.Fatal(err)
	}
	enrolStep := Step(now) - 1
	cred, err := Credential(cipher, id, key, enrolStep)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cred.Config), key.Secret()) || strings.Contains(string(cred.Config), "otpauth") {
		t.Fatalf("credential config holds the key in clear: %s", cred.Config)
	}
	store := &memoryCredentials{config: cred.Config}
	v := &Verifier{Sealer: cipher, Credentials: store, Now: func() time.Time { return now }}
	ident := func() *identity.Identity {
		c := cred
		c.Config = store.config
		return &identity.Identity{ID: id, Credentials: map[identity.CredentialType]identity.Credential{identity.CredentialTOTP: c}}
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(key.Secret(), at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	steps := []struct {
		name string
		code string
		want bool
	}{
		{"the enrolment code again", code(now.Add(-30 * time.Second)), false},
		{"wrong", "000000", false},
		{"current", code(now), true},
		{"current again", code(now), false},
		{"next step", code(now.Add(30 * time.Second)), true},
	}
	for _, s := range steps {
		ok, err := v.Use(context.Background(), ident(), s.code)
		if err != nil || ok != s.want {
			t.Fatalf("%s: Use = %v, %v; want %v", s.name, ok, err, s.want)
		}
	}

	// A stale read (another submission spent a step meanwhile) loses.
	stale := ident()
	now = now.Add(90 * time.Second)
	if ok, err := v.Use(context.Background(), ident(), code(now)); !ok || err != nil {
		t.Fatalf("fresh use: %v %v", ok, err)
	}
	if ok, err := v.Use(context.Background(), stale, code(now.Add(30*time.Second))); ok || err != nil {
		t.Fatalf("use from a stale read: %v %v", ok, err)
	}

	// Sealed for another identity, it does not open.
	moved := ident()
	moved.ID = uuid.New()
	if _, err := v.Use(context.Background(), moved, code(now)); err == nil {
		t.Fatal("a credential moved to another identity opened")
	}
	if _, err := v.Use(context.Background(), &identity.Identity{ID: id}, code(now)); err != ErrNoCredential {
		t.Fatalf("no credential: %v", err)
	}
}
