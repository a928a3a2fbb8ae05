package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// hasher is the real password hasher, at the cheapest bcrypt cost.
func hasher(t *testing.T) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(password.HashConfig{BcryptCost: 4}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// mustCreate creates an identity through the service.
func mustCreate(t *testing.T, svc *identity.Service, traits string) *identity.Identity {
	t.Helper()
	i, err := svc.Create(context.Background(), identity.CreateInput{Traits: json.RawMessage(traits),
		Credentials: &identity.CredentialsInput{Password: &identity.PasswordCredentialsInput{Config: identity.PasswordInputConfig{Password: "Passw0rd-1"}}}})
	if err != nil {
		t.Fatalf("create %s: %v", traits, err)
	}
	return i
}

func TestIdentityService(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		c := &servertest.Clock{}
		c.Freeze()
		svc := identity.NewService(sqlstore.NewIdentityStore(db), identity.MustDefaultSchemas(), hasher(t), c.Now)

		t.Run("UpdateTraitsKeepsAddressIDsAndStatus", func(t *testing.T) {
			i := mustCreate(t, svc, `{"email":"keep@example.test"}`)
			if err := svc.MarkVerified(ctx, i.ID, "email", "KEEP@example.test"); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Hour)
			upd, err := svc.UpdateTraits(ctx, i.ID, json.RawMessage(`{"email":"Keep@Example.test","name":"K"}`))
			if err != nil {
				t.Fatal(err)
			}
			va := upd.VerifiableAddresses[0]
			if va.ID != i.VerifiableAddresses[0].ID || !va.Verified || va.Status != "completed" || va.VerifiedAt == nil {
				t.Errorf("verifiable address = %+v", va)
			}
			if upd.RecoveryAddresses[0].ID != i.RecoveryAddresses[0].ID {
				t.Errorf("recovery address id changed")
			}
			if upd.HashedPassword() == "" || upd.HashedPassword() != i.HashedPassword() {
				t.Errorf("password lost by UpdateTraits")
			}
			got, _ := svc.Get(ctx, i.ID)
			if mustJSON(t, got.JSON(identity.AdminViewWithCredentials, "")) != mustJSON(t, upd.JSON(identity.AdminViewWithCredentials, "")) {
				t.Errorf("returned identity differs from the stored one:\n%s\n%s",
					mustJSON(t, upd.JSON(identity.AdminViewWithCredentials, "")), mustJSON(t, got.JSON(identity.AdminViewWithCredentials, "")))
			}
		})

		t.Run("UpdateTraitsValidationError", func(t *testing.T) {
			i := mustCreate(t, svc, `{"email":"valid@example.test"}`)
			_, err := svc.UpdateTraits(ctx, i.ID, json.RawMessage(`{"email":"@bc"}`))
			var ve *identity.ValidationError
			if !errors.As(err, &ve) || ve.Fields[0].Field != "traits.email" || ve.Fields[0].MessageID != identity.MsgIDInvalidEmail {
				t.Fatalf("err = %v", err)
			}
			got, _ := svc.Get(ctx, i.ID)
			if string(got.Traits) != `{"email":"valid@example.test"}` {
				t.Errorf("traits changed to %s", got.Traits)
			}
		})

		t.Run("FindByIdentifier", func(t *testing.T) {
			i := mustCreate(t, svc, `{"email":"Login@Example.test"}`)
			got, err := svc.FindByIdentifier(ctx, identity.CredentialPassword, " LOGIN@example.TEST ")
			if err != nil || got.ID != i.ID || got.HashedPassword() == "" {
				t.Fatalf("got %v, %v", got, err)
			}
			_, err = svc.FindByIdentifier(ctx, identity.CredentialPassword, "nobody@example.test")
			if !errors.Is(err, identity.ErrNotFound) || !errors.Is(err, storeerr.ErrNotFound) {
				t.Fatalf("unknown identifier err = %v", err)
			}
		})

		t.Run("FindRecoveryAddress", func(t *testing.T) {
			i := mustCreate(t, svc, `{"email":"recover@example.test"}`)
			addr, owner, err := svc.FindRecoveryAddress(ctx, "email", "Recover@EXAMPLE.test")
			if err != nil || owner.ID != i.ID || addr.ID != i.RecoveryAddresses[0].ID || owner.HashedPassword() == "" {
				t.Fatalf("got %+v, %v, %v", addr, owner, err)
			}
			if _, _, err := svc.FindRecoveryAddress(ctx, "email", "ghost@example.test"); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("unknown address err = %v", err)
			}
		})

		t.Run("MarkVerifiedUnknownAddress", func(t *testing.T) {
			i := mustCreate(t, svc, `{"email":"mv@example.test"}`)
			if err := svc.MarkVerified(ctx, i.ID, "email", "other@example.test"); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
		})

		t.Run("SetPasswordKeepsIdentifiers", func(t *testing.T) {
			i := mustCreate(t, svc, `{"email":"setpw@example.test"}`)
			h, _ := bcrypt.GenerateFromPassword([]byte("brand-new"), 4)
			c.Advance(time.Minute)
			if err := svc.SetPassword(ctx, i.ID, string(h)); err != nil {
				t.Fatal(err)
			}
			got, _ := svc.Get(ctx, i.ID)
			if got.HashedPassword() != string(h) || got.PasswordIdentifiers()[0] != "setpw@example.test" || !got.UpdatedAt.After(i.UpdatedAt) {
				t.Errorf("after SetPassword: %+v", got.Credentials)
			}
			if err := svc.SetPassword(ctx, uuid.New(), string(h)); !errors.Is(err, identity.ErrNotFound) {
				t.Errorf("unknown identity err = %v", err)
			}
		})

		t.Run("GetPublicSkipsCredentials", func(t *testing.T) {
			i := mustCreate(t, svc, `{"email":"public@example.test"}`)
			got, err := svc.GetPublic(ctx, i.ID)
			if err != nil || got.Credentials != nil || len(got.RecoveryAddresses) != 1 || got.State != identity.StateActive {
				t.Fatalf("got %+v, %v", got, err)
			}
		})

		t.Run("UpdateWithNilCredentialsKeepsThem", func(t *testing.T) {
			i := mustCreate(t, svc, `{"email":"nilcreds@example.test"}`)
			pub, _ := svc.GetPublic(ctx, i.ID)
			pub.State = identity.StateInactive
			if err := svc.Update(ctx, pub); err != nil {
				t.Fatal(err)
			}
			got, _ := svc.Get(ctx, i.ID)
			if got.HashedPassword() != i.HashedPassword() || got.State != identity.StateInactive || !got.StateChangedAt.Equal(c.Now().Truncate(time.Microsecond)) {
				t.Errorf("after Update: %+v", got)
			}
		})

		t.Run("CreateJoinsCallerTransaction", func(t *testing.T) {
			boom := errors.New("boom")
			var created *identity.Identity
			err := db.InTx(ctx, func(ctx context.Context) error {
				var err error
				created, err = svc.Create(ctx, identity.CreateInput{Traits: json.RawMessage(`{"email":"rollback@example.test"}`)})
				if err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
			if _, err := svc.Get(ctx, created.ID); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("identity survived the rollback: %v", err)
			}
		})

		t.Run("ValidateTraits", func(t *testing.T) {
			if fe := svc.ValidateTraits("", json.RawMessage(`{"email":"ok@example.test"}`)); fe != nil {
				t.Errorf("valid traits: %+v", fe)
			}
			fe := svc.ValidateTraits("default", json.RawMessage(`{}`))
			if len(fe) != 1 || fe[0].Field != "traits.email" || fe[0].MessageID != 4000002 || fe[0].Text != "Property email is missing." {
				t.Errorf("missing email: %+v", fe)
			}
			fe = svc.ValidateTraits("nope", json.RawMessage(`{}`))
			if len(fe) != 1 || fe[0].MessageID != 4000001 {
				t.Errorf("unknown schema: %+v", fe)
			}
		})
	})
}

// TestIdentityWithoutIdentifierTrait: a schema whose traits name no
// password identifier gives identities without a password credential
// unless a password is set.
func TestIdentityWithoutIdentifierTrait(t *testing.T) {
	raw := `{"properties":{"traits":{"type":"object","properties":{"nick":{"type":"string"}}}}}`
	schemas, err := identity.NewSchemas([]identity.SchemaSource{{ID: "nick", URL: "base64://" + base64.StdEncoding.EncodeToString([]byte(raw))}}, "nick")
	if err != nil {
		t.Fatal(err)
	}
	db := sqltest.OpenSQLite(t)
	svc := identity.NewService(sqlstore.NewIdentityStore(db), schemas, hasher(t), nil)
	i, err := svc.Create(context.Background(), identity.CreateInput{Traits: json.RawMessage(`{"nick":"n"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(i.Credentials) != 0 || i.RecoveryAddresses != nil || i.VerifiableAddresses != nil {
		t.Fatalf("identity = %+v", i)
	}
	b, _ := json.Marshal(i.JSON(identity.AdminView, ""))
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"credentials", "recovery_addresses", "verifiable_addresses", "metadata_admin", "external_id"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s present in %s", k, b)
		}
	}
	for _, k := range []string{"metadata_public", "organization_id"} {
		if v, ok := m[k]; !ok || v != nil {
			t.Errorf("%s must be present and null in %s", k, b)
		}
	}
}
