package servertest

import (
	"context"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/password"
)

// MustCreateIdentity creates an active identity of the default schema
// with an email trait and, unless pw is "", a password, through the
// admin API.
func (s *Server) MustCreateIdentity(t testing.TB, email, pw string) *ory.Identity {
	t.Helper()
	body := ory.CreateIdentityBody{SchemaId: "default", Traits: map[string]any{"email": email}}
	if pw != "" {
		body.Credentials = &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
			Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString(pw)}}}
	}
	return s.MustCreateIdentityBody(t, body)
}

// MustCreateIdentityBody creates an identity as body says (another
// schema, other traits, an imported hash) through the admin API.
func (s *Server) MustCreateIdentityBody(t testing.TB, body ory.CreateIdentityBody) *ory.Identity {
	t.Helper()
	i, _, err := s.SDK(false).IdentityAPI.CreateIdentity(context.Background()).CreateIdentityBody(body).Execute()
	if err != nil {
		t.Fatalf("create identity %v: %v %s", body.Traits, err, ErrorText(err))
	}
	return i
}

// MustGetIdentity reads an identity, with its credentials, through the
// admin API.
func (s *Server) MustGetIdentity(t testing.TB, id string) *ory.Identity {
	t.Helper()
	i, _, err := s.SDK(false).IdentityAPI.GetIdentity(context.Background(), id).IncludeCredential([]string{"password"}).Execute()
	if err != nil {
		t.Fatalf("get identity %s: %v %s", id, err, ErrorText(err))
	}
	return i
}

// HashedPassword is the stored password hash of an identity ("" when it
// has none).
func (s *Server) HashedPassword(t testing.TB, id string) string {
	t.Helper()
	i := s.MustGetIdentity(t, id)
	if i.Credentials == nil {
		return ""
	}
	h, _ := (*i.Credentials)["password"].Config["hashed_password"].(string)
	return h
}

// comparer checks stored hashes of any format the server accepts; its
// own hashing configuration is never used.
var comparer, _ = password.NewHasher(password.HashConfig{}, 1)

// PasswordIs reports whether pw is the identity's stored password.
func (s *Server) PasswordIs(t testing.TB, id, pw string) bool {
	t.Helper()
	hash := s.HashedPassword(t, id)
	if hash == "" {
		return false
	}
	ok, err := comparer.Compare(context.Background(), []byte(pw), hash)
	if err != nil {
		t.Fatalf("compare password of %s: %v", id, err)
	}
	return ok
}
