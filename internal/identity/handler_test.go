package identity_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// The admin API is tested through the whole server (servertest): the
// identity handler as Latchkey mounts it, on a real database.

// adminServer is what the admin identity tests use: the server, its
// clock stopped (the tests compare exact times and need equal
// timestamps), and an SDK client.
type adminServer struct {
	t   *testing.T
	srv *servertest.Server
	sdk *ory.APIClient
}

func newAdminServer(t *testing.T, opts servertest.Options) *adminServer {
	t.Helper()
	opts.NoSMTP = true
	srv := servertest.Start(t, opts)
	srv.Clock.Freeze()
	return &adminServer{t: t, srv: srv, sdk: srv.SDK(false)}
}

var identityTables = []string{
	"identities", "identity_credentials", "identity_credential_identifiers",
	"identity_recovery_addresses", "identity_verifiable_addresses",
}

// counts returns the row count of every identity table.
func (f *adminServer) counts() map[string]int {
	f.t.Helper()
	out := map[string]int{}
	for _, table := range identityTables {
		out[table] = f.srv.CountRows(f.t, table)
	}
	return out
}

func (f *adminServer) mustCreate(email, password string) *ory.Identity {
	f.t.Helper()
	return f.srv.MustCreateIdentity(f.t, email, password)
}

// do sends a raw request to the admin API and returns the status and body.
func (f *adminServer) do(method, path, contentType, body string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.Admin.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.srv.HTTPClient(false).Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type errorEnvelope struct {
	Error struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeError(t *testing.T, body string) errorEnvelope {
	t.Helper()
	var e errorEnvelope
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == 0 {
		t.Fatalf("not an error envelope: %s", body)
	}
	return e
}

func errBody(err error) string {
	if oe, ok := err.(*ory.GenericOpenAPIError); ok {
		return string(oe.Body())
	}
	return ""
}

func hashedPassword(t *testing.T, i *ory.Identity) string {
	t.Helper()
	creds := *i.Credentials
	cfg := creds["password"].Config
	h, _ := cfg["hashed_password"].(string)
	return h
}

func TestAdminIdentities(t *testing.T) {
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		// One server for the subtests, as they shared one database before.
		shared := newAdminServer(t, servertest.Options{Dialect: d})

		t.Run("Lifecycle", func(t *testing.T) {
			f := &adminServer{t: t, srv: shared.srv, sdk: shared.sdk}
			before := f.counts()

			// Create: mixed-case email, plain password, metadata, external id.
			body := ory.CreateIdentityBody{
				SchemaId:       "default",
				Traits:         map[string]any{"email": "Ada@Example.TEST", "name": "Ada"},
				MetadataPublic: map[string]any{"plan": "pro"},
				MetadataAdmin:  map[string]any{"crm": 42},
				ExternalId:     ory.PtrString("crm-42"),
				Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
					Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString("Old-Passw0rd!")}}},
			}
			created, resp, err := f.sdk.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(body).Execute()
			if err != nil {
				t.Fatalf("create: %v %s", err, errBody(err))
			}
			if resp.StatusCode != 201 || resp.Header.Get("Location") != f.srv.Config.Serve.Admin.BaseURL+"identities/"+created.Id {
				t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if created.SchemaUrl != f.srv.Config.PublicURL("schemas/ZGVmYXVsdA") || created.GetState() != "active" || created.StateChangedAt == nil {
				t.Errorf("schema_url %q, state %q, state_changed_at %v", created.SchemaUrl, created.GetState(), created.StateChangedAt)
			}
			pw := (*created.Credentials)["password"]
			if len(pw.Identifiers) != 1 || pw.Identifiers[0] != "ada@example.test" {
				t.Errorf("identifiers = %v, want lower-cased", pw.Identifiers)
			}
			if pw.Config != nil {
				t.Errorf("create response credential shows its config %v", pw.Config)
			}
			if got := created.Traits.(map[string]any)["email"]; got != "Ada@Example.TEST" {
				t.Errorf("traits.email = %q, traits are stored as given", got)
			}
			if len(created.RecoveryAddresses) != 1 || created.RecoveryAddresses[0].Value != "ada@example.test" || created.RecoveryAddresses[0].Via != "email" {
				t.Errorf("recovery_addresses = %+v", created.RecoveryAddresses)
			}
			va := created.VerifiableAddresses
			if len(va) != 1 || va[0].Value != "ada@example.test" || va[0].Verified || va[0].Status != "pending" || va[0].VerifiedAt != nil {
				t.Errorf("verifiable_addresses = %+v", va)
			}
			if created.MetadataPublic["plan"] != "pro" || created.MetadataAdmin["crm"] != float64(42) || created.GetExternalId() != "crm-42" {
				t.Errorf("metadata %v / %v, external id %q", created.MetadataPublic, created.MetadataAdmin, created.GetExternalId())
			}
			after := f.counts()
			for _, table := range identityTables {
				if after[table] != before[table]+1 {
					t.Errorf("%s: %d rows, want %d", table, after[table], before[table]+1)
				}
			}

			// Get, with the password hash on request.
			got, _, err := f.sdk.IdentityAPI.GetIdentity(ctx, created.Id).IncludeCredential([]string{"password"}).Execute()
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if h := hashedPassword(t, got); bcrypt.CompareHashAndPassword([]byte(h), []byte("Old-Passw0rd!")) != nil {
				t.Errorf("hashed_password %q does not verify", h)
			}
			if pw := (*got.Credentials)["password"]; pw.CreatedAt.IsZero() {
				t.Error("stored credential has no created_at")
			}
			if !got.CreatedAt.Equal(*created.CreatedAt) || got.RecoveryAddresses[0].Id == nil || *got.RecoveryAddresses[0].Id != *created.RecoveryAddresses[0].Id {
				t.Errorf("get differs from create: %+v", got)
			}
			plain, _, err := f.sdk.IdentityAPI.GetIdentity(ctx, created.Id).Execute()
			if err != nil || (*plain.Credentials)["password"].Config != nil {
				t.Errorf("get without include_credential shows config: %v %v", plain, err)
			}

			// List, filtered by identifier, case-insensitively.
			list, _, err := f.sdk.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier("ADA@example.test").Execute()
			if err != nil || len(list) != 1 || list[0].Id != created.Id {
				t.Fatalf("list by identifier = %+v, %v", list, err)
			}

			// Full update: a new email replaces identifiers and addresses.
			f.srv.Clock.Advance(time.Minute)
			upd, _, err := f.sdk.IdentityAPI.UpdateIdentity(ctx, created.Id).UpdateIdentityBody(ory.UpdateIdentityBody{
				SchemaId: "default", State: "active",
				Traits:        map[string]any{"email": "ada.lovelace@example.test", "name": "Ada"},
				MetadataAdmin: map[string]any{"crm": 43},
			}).Execute()
			if err != nil {
				t.Fatalf("update: %v %s", err, errBody(err))
			}
			if ids := (*upd.Credentials)["password"].Identifiers; len(ids) != 1 || ids[0] != "ada.lovelace@example.test" {
				t.Errorf("identifiers after update = %v", ids)
			}
			if upd.RecoveryAddresses[0].Value != "ada.lovelace@example.test" || *upd.RecoveryAddresses[0].Id == *created.RecoveryAddresses[0].Id {
				t.Errorf("recovery address after update = %+v", upd.RecoveryAddresses[0])
			}
			if upd.MetadataPublic != nil || upd.MetadataAdmin["crm"] != float64(43) || upd.GetExternalId() != "crm-42" {
				t.Errorf("PUT: metadata_public %v (want cleared), metadata_admin %v, external_id %q (kept)", upd.MetadataPublic, upd.MetadataAdmin, upd.GetExternalId())
			}
			if !upd.StateChangedAt.Equal(*created.StateChangedAt) {
				t.Errorf("state_changed_at moved without a state change")
			}
			stored, _, _ := f.sdk.IdentityAPI.GetIdentity(ctx, created.Id).IncludeCredential([]string{"password"}).Execute()
			if hashedPassword(t, stored) != hashedPassword(t, got) {
				t.Error("PUT without credentials lost the password")
			}

			// JSON Patch: name, state and a new password.
			f.srv.Clock.Advance(time.Minute)
			patched, _, err := f.sdk.IdentityAPI.PatchIdentity(ctx, created.Id).JsonPatch([]ory.JsonPatch{
				{Op: "replace", Path: "/traits/name", Value: "Countess"},
				{Op: "replace", Path: "/state", Value: "inactive"},
				{Op: "add", Path: "/metadata_public", Value: map[string]any{"tier": 2}},
				{Op: "add", Path: "/credentials/password/config/password", Value: "New-Passw0rd!"},
			}).Execute()
			if err != nil {
				t.Fatalf("patch: %v %s", err, errBody(err))
			}
			if patched.GetState() != "inactive" || patched.Traits.(map[string]any)["name"] != "Countess" || patched.MetadataPublic["tier"] != float64(2) {
				t.Errorf("patched = %+v", patched)
			}
			if !patched.StateChangedAt.Equal(f.srv.Clock.Now().Truncate(time.Microsecond)) {
				t.Errorf("state_changed_at = %v, want %v", patched.StateChangedAt, f.srv.Clock.Now())
			}
			stored, _, _ = f.sdk.IdentityAPI.GetIdentity(ctx, created.Id).IncludeCredential([]string{"password"}).Execute()
			if bcrypt.CompareHashAndPassword([]byte(hashedPassword(t, stored)), []byte("New-Passw0rd!")) != nil {
				t.Error("patched password does not verify")
			}

			// Delete: 204, then 404, and every row is gone.
			resp, err = f.sdk.IdentityAPI.DeleteIdentity(ctx, created.Id).Execute()
			if err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("delete: %v %v", resp, err)
			}
			_, resp, err = f.sdk.IdentityAPI.GetIdentity(ctx, created.Id).Execute()
			if err == nil || resp.StatusCode != http.StatusNotFound {
				t.Fatalf("get after delete: %v", err)
			}
			if e := decodeError(t, errBody(err)); e.Error.Message != "Unable to locate the resource" {
				t.Errorf("404 body = %+v", e)
			}
			resp, err = f.sdk.IdentityAPI.DeleteIdentity(ctx, created.Id).Execute()
			if err == nil || resp.StatusCode != http.StatusNotFound {
				t.Errorf("second delete: %v", err)
			}
			if c := f.counts(); c["identities"] != before["identities"] || c["identity_verifiable_addresses"] != before["identity_verifiable_addresses"] {
				t.Errorf("rows after delete: %v, before %v", c, before)
			}
		})

		// Kratos answers a create with zero (0001-01-01) credential
		// times; Latchkey answers the times it stored.
		t.Run("CreateAnswersTheStoredCredentialTimes", func(t *testing.T) {
			f := &adminServer{t: t, srv: shared.srv, sdk: shared.sdk}
			for name, creds := range map[string]*ory.IdentityWithCredentials{
				"WithPassword": {Password: &ory.IdentityWithCredentialsPassword{
					Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString("Times-Passw0rd!")}}},
				"IdentifierOnly": nil,
			} {
				t.Run(name, func(t *testing.T) {
					created, _, err := f.sdk.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(ory.CreateIdentityBody{
						SchemaId: "default", Traits: map[string]any{"email": strings.ToLower(name) + "-times@example.test"}, Credentials: creds,
					}).Execute()
					if err != nil {
						t.Fatalf("create: %v %s", err, errBody(err))
					}
					f.srv.Clock.Advance(time.Minute) // a time made up at answer time would now differ
					got, _, err := f.sdk.IdentityAPI.GetIdentity(ctx, created.Id).Execute()
					if err != nil {
						t.Fatalf("get: %v", err)
					}
					pw, stored := (*created.Credentials)["password"], (*got.Credentials)["password"]
					if pw.GetCreatedAt().IsZero() || pw.GetUpdatedAt().IsZero() {
						t.Errorf("create answered credential times created_at %v, updated_at %v", pw.GetCreatedAt(), pw.GetUpdatedAt())
					}
					if !pw.GetCreatedAt().Equal(stored.GetCreatedAt()) || !pw.GetUpdatedAt().Equal(stored.GetUpdatedAt()) {
						t.Errorf("create answered created_at %v, updated_at %v; GET answers %v, %v",
							pw.GetCreatedAt(), pw.GetUpdatedAt(), stored.GetCreatedAt(), stored.GetUpdatedAt())
					}
				})
			}
		})

		t.Run("ImportedBcryptHash", func(t *testing.T) {
			f := &adminServer{t: t, srv: shared.srv, sdk: shared.sdk}
			hash, _ := bcrypt.GenerateFromPassword([]byte("imported-secret"), 4)
			created, _, err := f.sdk.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(ory.CreateIdentityBody{
				SchemaId: "default", Traits: map[string]any{"email": "imported@example.test"},
				Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
					Config: &ory.IdentityWithCredentialsPasswordConfig{HashedPassword: ory.PtrString(string(hash))}}},
			}).Execute()
			if err != nil {
				t.Fatalf("create: %v %s", err, errBody(err))
			}
			got, _, err := f.sdk.IdentityAPI.GetIdentity(ctx, created.Id).IncludeCredential([]string{"password"}).Execute()
			if err != nil || hashedPassword(t, got) != string(hash) {
				t.Fatalf("stored hash %q, want the imported one as is (%v)", hashedPassword(t, got), err)
			}
		})

		t.Run("ImportedVerificationStatus", func(t *testing.T) {
			f := &adminServer{t: t, srv: shared.srv, sdk: shared.sdk}
			verifiedAt := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			created, _, err := f.sdk.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(ory.CreateIdentityBody{
				SchemaId: "default", Traits: map[string]any{"email": "Verified@Example.test"},
				VerifiableAddresses: []ory.VerifiableIdentityAddress{
					{Value: "VERIFIED@example.test", Via: "email", Verified: true, Status: "completed", VerifiedAt: &verifiedAt},
					{Value: "other@example.test", Via: "email", Verified: true, Status: "completed"},
				},
				RecoveryAddresses: []ory.RecoveryIdentityAddress{{Value: "not-a-trait@example.test", Via: "email"}},
			}).Execute()
			if err != nil {
				t.Fatalf("create: %v %s", err, errBody(err))
			}
			va := created.VerifiableAddresses
			if len(va) != 1 || va[0].Value != "verified@example.test" || !va[0].Verified || va[0].Status != "completed" || !va[0].VerifiedAt.Equal(verifiedAt) {
				t.Errorf("verifiable_addresses = %+v", va)
			}
			if ra := created.RecoveryAddresses; len(ra) != 1 || ra[0].Value != "verified@example.test" {
				t.Errorf("recovery_addresses = %+v (only trait-backed ones survive)", ra)
			}
			// A later trait update keeps the imported status.
			upd, _, err := f.sdk.IdentityAPI.PatchIdentity(ctx, created.Id).JsonPatch([]ory.JsonPatch{
				{Op: "replace", Path: "/traits", Value: map[string]any{"email": "verified@example.test", "name": "V"}},
			}).Execute()
			if err != nil || !upd.VerifiableAddresses[0].Verified || *upd.VerifiableAddresses[0].Id != *va[0].Id {
				t.Errorf("after a traits update: %+v, %v %s", upd, err, errBody(err))
			}
		})

		t.Run("DuplicateIsConflict", func(t *testing.T) {
			f := &adminServer{t: t, srv: shared.srv, sdk: shared.sdk}
			f.mustCreate("dup@example.test", "")
			before := f.counts()
			for _, email := range []string{"dup@example.test", "DUP@Example.Test"} {
				status, body := f.do("POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"`+email+`"}}`)
				want := `{"error":{"code":409,"status":"Conflict","reason":"This identity conflicts with another identity that already exists.","message":"The resource could not be created due to a conflict"}}` + "\n"
				if status != http.StatusConflict || body != want {
					t.Errorf("%s: %d %s", email, status, body)
				}
			}
			if after := f.counts(); !equalCounts(before, after) {
				t.Errorf("rows changed: %v → %v", before, after)
			}
			// An update onto a taken email is a conflict too, and changes nothing.
			other := f.mustCreate("other@example.test", "")
			status, body := f.do("PATCH", "/admin/identities/"+other.Id, "application/json", `[{"op":"replace","path":"/traits/email","value":"dup@example.test"}]`)
			if status != http.StatusConflict {
				t.Errorf("patch onto taken email: %d %s", status, body)
			}
			got, _, _ := f.sdk.IdentityAPI.GetIdentity(ctx, other.Id).Execute()
			if got.Traits.(map[string]any)["email"] != "other@example.test" {
				t.Errorf("traits changed by a failed patch: %v", got.Traits)
			}
		})

		t.Run("BadInputWritesNothing", func(t *testing.T) {
			f := &adminServer{t: t, srv: shared.srv, sdk: shared.sdk}
			existing := f.mustCreate("taken@example.test", "pw-1234567")
			big := `{"schema_id":"default","traits":{"email":"big@example.test"},"metadata_admin":"` + strings.Repeat("x", 1<<20) + `"}`
			tests := []struct {
				name        string
				method      string
				path        string
				contentType string
				body        string
				status      int
				reason      string // substring of error.reason
			}{
				{"MalformedJSON", "POST", "/admin/identities", "application/json", `{"schema_id":`, 400, "Unable to decode JSON payload"},
				{"EmptyBody", "POST", "/admin/identities", "application/json", ``, 400, "the request body is empty"},
				{"UnknownField", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"u@example.test"},"nope":1}`, 400, `unknown field "nope"`},
				{"WrongContentType", "POST", "/admin/identities", "application/x-www-form-urlencoded", `schema_id=default&traits.email=f@example.test`, 415, "Content-Type must be application/json"},
				{"OversizedBody", "POST", "/admin/identities", "application/json", big, 413, "exceeds the maximum size"},
				{"UnknownSchema", "POST", "/admin/identities", "application/json", `{"schema_id":"no-such-schema","traits":{"email":"s@example.test"}}`, 400, "no-such-schema"},
				{"TraitFailsSchema", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"t@example.test","bar":1}}`, 400, `I[#/traits] S[#/properties/traits/additionalProperties] additionalProperties "bar" not allowed`},
				{"TraitWrongType", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":42}}`, 400, `I[#/traits/email] S[#/properties/traits/properties/email/type] expected string, but got number`},
				{"TraitMissing", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{}}`, 400, `missing properties: "email"`},
				{"EmailTooLong", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"` + strings.Repeat("a", 320) + `@example.test"}}`, 400, `is not valid "email"`},
				{"ExternalIDTooLong", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"e@example.test"},"external_id":"` + strings.Repeat("x", 256) + `"}`, 400, "external_id must be at most 255"},
				{"TraitsNotObject", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":"x"}`, 400, "traits must be a JSON object"},
				{"DuplicateEmail", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"Taken@example.test"}}`, 409, "conflicts with another identity"},
				{"InvalidState", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"st@example.test"},"state":"frozen"}`, 400, "identity state is not valid"},
				{"UnknownHashFormat", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"h@example.test"},"credentials":{"password":{"config":{"hashed_password":"plaintext"}}}}`, 400, "The imported password does not match any known hash format. For more information see https://www.ory.sh/dr/2"},
				{"DuplicateExternalID", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"x1@example.test"},"external_id":"ext-1"}`, 0, ""}, // setup for the next case
				{"DuplicateExternalIDConflict", "POST", "/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"x2@example.test"},"external_id":"ext-1"}`, 409, "conflicts with another identity"},
				{"MalformedID", "GET", "/admin/identities/not-a-uuid", "", ``, 400, "not a valid UUID"},
				{"UnknownID", "GET", "/admin/identities/00000000-0000-4000-8000-000000000000", "", ``, 404, "does not exist"},
				{"PutUnknownID", "PUT", "/admin/identities/00000000-0000-4000-8000-000000000000", "application/json", `{"schema_id":"default","state":"active","traits":{"email":"p@example.test"}}`, 404, "does not exist"},
				{"PutTraitFailsSchema", "PUT", "/admin/identities/" + existing.Id, "application/json", `{"schema_id":"default","state":"active","traits":{"email":"not-an-email"}}`, 400, `"not-an-email" is not valid "email"`},
				{"PutUnknownSchema", "PUT", "/admin/identities/" + existing.Id, "application/json", `{"schema_id":"nope","state":"active","traits":{"email":"taken@example.test"}}`, 400, "nope"},
				{"PutInvalidState", "PUT", "/admin/identities/" + existing.Id, "application/json", `{"schema_id":"default","state":"gone","traits":{"email":"taken@example.test"}}`, 400, "identity state is not valid"},
				{"PatchDeniedPath", "PATCH", "/admin/identities/" + existing.Id, "application/json", `[{"op":"replace","path":"/id","value":"00000000-0000-4000-8000-000000000000"}]`, 400, "patch includes denied path: /id"},
				{"PatchDeniedCredentials", "PATCH", "/admin/identities/" + existing.Id, "application/json", `[{"op":"replace","path":"/credentials/password/identifiers","value":["x"]}]`, 400, "denied path"},
				{"PatchTestFails", "PATCH", "/admin/identities/" + existing.Id, "application/json", `[{"op":"add","path":"/traits/name","value":"X"},{"op":"test","path":"/traits/email","value":"someone@else.test"}]`, 400, "test failed"},
				{"PatchBreaksSchema", "PATCH", "/admin/identities/" + existing.Id, "application/json", `[{"op":"remove","path":"/traits/email"}]`, 400, `missing properties: "email"`},
				{"PatchNotAnArray", "PATCH", "/admin/identities/" + existing.Id, "application/json", `{"op":"remove","path":"/traits/email"}`, 400, "Unable to decode JSON payload"},
				{"PatchBadState", "PATCH", "/admin/identities/" + existing.Id, "application/json", `[{"op":"replace","path":"/state","value":"gone"}]`, 400, "identity state is not valid"},
				{"BadPageSize", "GET", "/admin/identities?page_size=zero", "", ``, 400, "page_size"},
				{"BadPageToken", "GET", "/admin/identities?page_token=%21%21", "", ``, 400, "page_token"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					before := f.counts()
					stored, _, _ := f.sdk.IdentityAPI.GetIdentity(ctx, existing.Id).IncludeCredential([]string{"password"}).Execute()
					status, body := f.do(tc.method, tc.path, tc.contentType, tc.body)
					if tc.status == 0 {
						if status >= 300 {
							t.Fatalf("setup request failed: %d %s", status, body)
						}
						return
					}
					if status != tc.status {
						t.Fatalf("status %d, want %d: %s", status, tc.status, body)
					}
					e := decodeError(t, body)
					if e.Error.Code != tc.status || e.Error.Status != http.StatusText(tc.status) || !strings.Contains(e.Error.Reason, tc.reason) || e.Error.Message == "" {
						t.Errorf("error = %+v, want reason containing %q", e.Error, tc.reason)
					}
					if after := f.counts(); !equalCounts(before, after) {
						t.Errorf("rows changed: %v → %v", before, after)
					}
					now, _, _ := f.sdk.IdentityAPI.GetIdentity(ctx, existing.Id).IncludeCredential([]string{"password"}).Execute()
					if a, b := mustJSON(t, stored), mustJSON(t, now); a != b {
						t.Errorf("existing identity changed:\n%s\n%s", a, b)
					}
				})
			}
		})

		t.Run("Pagination", func(t *testing.T) {
			f := newAdminServer(t, servertest.Options{Dialect: d}) // an empty database
			want := map[string]bool{}
			for n := range 5 {
				// Two identities share each timestamp: ties are broken by id.
				if n%2 == 0 {
					f.srv.Clock.Advance(time.Second)
				}
				want[f.mustCreate("page"+string(rune('a'+n))+"@example.test", "").Id] = true
			}
			seen := map[string]bool{}
			token, pages := "", 0
			for {
				req := f.sdk.IdentityAPI.ListIdentities(ctx).PageSize(2)
				if token != "" {
					req = req.PageToken(token)
				}
				list, resp, err := req.Execute()
				if err != nil {
					t.Fatalf("list: %v %s", err, errBody(err))
				}
				pages++
				for _, i := range list {
					if seen[i.Id] {
						t.Fatalf("identity %s listed twice", i.Id)
					}
					seen[i.Id] = true
					if i.Credentials != nil {
						t.Errorf("list without include_credential shows credentials")
					}
				}
				link := resp.Header.Get("Link")
				if !strings.Contains(link, `rel="first"`) {
					t.Errorf("Link %q has no first page", link)
				}
				token = nextToken(t, link)
				if token == "" {
					break
				}
				if pages > 5 {
					t.Fatal("pagination does not end")
				}
			}
			if pages != 3 || len(seen) != len(want) {
				t.Fatalf("pages %d, seen %d identities, want 3 pages and %d", pages, len(seen), len(want))
			}
			all, _, err := f.sdk.IdentityAPI.ListIdentities(ctx).IncludeCredential([]string{"password"}).Execute()
			if err != nil || len(all) != 5 || all[0].Credentials == nil {
				t.Fatalf("default page: %d identities, credentials %v, %v", len(all), all[0].Credentials, err)
			}
			ids := []string{}
			for id := range want {
				ids = append(ids, id)
			}
			byIDs, _, err := f.sdk.IdentityAPI.ListIdentities(ctx).Ids(ids[:2]).Execute()
			if err != nil || len(byIDs) != 2 {
				t.Fatalf("ids filter: %d, %v", len(byIDs), err)
			}
		})

		t.Run("Schemas", func(t *testing.T) {
			f := &adminServer{t: t, srv: shared.srv, sdk: shared.sdk}
			list, _, err := f.sdk.IdentityAPI.ListIdentitySchemas(ctx).Execute()
			if err != nil || len(list) != 1 || list[0].Id != "default" {
				t.Fatalf("list schemas = %+v, %v", list, err)
			}
			for _, id := range []string{"ZGVmYXVsdA", "default"} {
				sch, _, err := f.sdk.IdentityAPI.GetIdentitySchema(ctx, id).Execute()
				if err != nil || sch["properties"] == nil {
					t.Errorf("get schema %s = %v, %v", id, sch, err)
				}
			}
			_, resp, err := f.sdk.IdentityAPI.GetIdentitySchema(ctx, "bm9wZQ").Execute()
			if err == nil || resp.StatusCode != http.StatusNotFound {
				t.Errorf("unknown schema: %v", err)
			}
		})
	})
}

var nextLink = regexp.MustCompile(`<([^>]*)>; rel="next"`)

func nextToken(t *testing.T, link string) string {
	t.Helper()
	m := nextLink.FindStringSubmatch(link)
	if m == nil {
		return ""
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatalf("next link %q: %v", m[1], err)
	}
	if u.Query().Get("page_size") != "2" {
		t.Errorf("next link %q lost page_size", m[1])
	}
	return u.Query().Get("page_token")
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
