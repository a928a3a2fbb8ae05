package identity

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A clone is equal to its original and shares nothing with it that can
// be changed in place.
func TestCloneIsDeep(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id := uuid.New()
	sample := func() *Identity {
		verifiedAt := at
		return &Identity{
			ID: id, SchemaID: "default", State: StateActive, StateChangedAt: &verifiedAt,
			Traits:         json.RawMessage(`{"email":"a@example.com"}`),
			MetadataPublic: json.RawMessage(`{"p":1}`), MetadataAdmin: json.RawMessage(`{"a":1}`),
			Credentials: map[CredentialType]Credential{CredentialPassword: {
				Type: CredentialPassword, Identifiers: []string{"a@example.com"}, Config: json.RawMessage(`{"hashed_password":"x"}`),
			}},
			VerifiableAddresses: []VerifiableAddress{{Value: "a@example.com", VerifiedAt: &verifiedAt}},
			RecoveryAddresses:   []RecoveryAddress{{Value: "a@example.com"}},
		}
	}
	orig := sample()
	c := orig.Clone()
	if !reflect.DeepEqual(c, orig) {
		t.Fatalf("clone differs:\n%+v\n%+v", c, orig)
	}
	c.Traits[2] = 'X'
	c.MetadataPublic[2] = 'X'
	c.MetadataAdmin[2] = 'X'
	*c.StateChangedAt = at.Add(time.Hour)
	c.Credentials[CredentialPassword].Identifiers[0] = "changed"
	c.Credentials[CredentialPassword].Config[2] = 'X'
	c.Credentials["totp"] = Credential{}
	c.VerifiableAddresses[0].Value = "changed"
	*c.VerifiableAddresses[0].VerifiedAt = at.Add(time.Hour)
	c.RecoveryAddresses[0].Value = "changed"
	want := sample()
	if !reflect.DeepEqual(orig, want) {
		t.Fatalf("changing the clone changed the original:\n%+v", orig)
	}
	if (*Identity)(nil).Clone() != nil {
		t.Fatal("nil clone")
	}
}
