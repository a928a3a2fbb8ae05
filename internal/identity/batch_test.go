package identity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// batchIdentity is a valid create body of the default schema: an email
// (the password identifier and recovery address), a verified verifiable
// address, metadata, an external id and a password, imported as a bcrypt
// hash unless plain.
func batchIdentity(t *testing.T, email string, plain bool) *ory.CreateIdentityBody {
	t.Helper()
	pw := ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString("pw-of-" + email)}
	if !plain {
		h, err := bcrypt.GenerateFromPassword([]byte("pw-of-"+email), 4)
		if err != nil {
			t.Fatal(err)
		}
		pw = ory.IdentityWithCredentialsPasswordConfig{HashedPassword: ory.PtrString(string(h))}
	}
	return &ory.CreateIdentityBody{
		SchemaId:            "default",
		Traits:              map[string]any{"email": email},
		Credentials:         &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{Config: &pw}},
		VerifiableAddresses: []ory.VerifiableIdentityAddress{{Value: email, Via: "email", Verified: true, Status: "completed"}},
		MetadataPublic:      map[string]any{"plan": "pro"},
		MetadataAdmin:       map[string]any{"crm": email},
		ExternalId:          ory.PtrString("ext-" + email),
	}
}

// batch sends PATCH /admin/identities through the SDK.
func (f *adminServer) batch(patches ...ory.IdentityPatch) (*ory.BatchPatchIdentitiesResponse, *http.Response, error) {
	return f.sdk.IdentityAPI.BatchPatchIdentities(context.Background()).
		PatchIdentitiesBody(ory.PatchIdentitiesBody{Identities: patches}).Execute()
}

// actions lists the action of each result ("" for a null one).
func actions(res *ory.BatchPatchIdentitiesResponse) []string {
	out := make([]string, len(res.Identities))
	for n, r := range res.Identities {
		out[n] = r.GetAction()
	}
	return out
}

// itemError is the error of one result.
func itemError(t *testing.T, r ory.IdentityPatchResponse) map[string]any {
	t.Helper()
	e, ok := r.GetError().(map[string]any)
	if !ok {
		t.Fatalf("result %+v has no error object", r)
	}
	return e
}

func TestBatchPatchIdentities(t *testing.T) {
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		shared := newAdminServer(t, servertest.Options{Dialect: d})
		sub := func(t *testing.T) *adminServer { return &adminServer{t: t, srv: shared.srv, sdk: shared.sdk} }

		t.Run("CreatesTheValidAndReportsEachFailure", func(t *testing.T) {
			f := sub(t)
			f.mustCreate("stored@batch.test", "")
			creates := []*ory.CreateIdentityBody{
				batchIdentity(t, "a@batch.test", false),
				batchIdentity(t, "b@batch.test", false),
				{SchemaId: "default"}, // no traits: the schema wants an email
				batchIdentity(t, "c@batch.test", false),
				batchIdentity(t, "a@batch.test", false), // same as the first
				batchIdentity(t, "stored@batch.test", false),
				{SchemaId: "nonexistent_schema", Traits: map[string]any{}},
				batchIdentity(t, "d@batch.test", false),
			}
			creates[5].ExternalId = nil
			patches := make([]ory.IdentityPatch, len(creates))
			for n, c := range creates {
				patches[n] = ory.IdentityPatch{Create: c, PatchId: ory.PtrString(uuid.NewString())}
			}
			before := f.counts()
			res, resp, err := f.batch(patches...)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("batch: %v %s", err, errBody(err))
			}
			want := []string{"create", "create", "error", "create", "error", "error", "error", "create"}
			if got := actions(res); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("actions %v, want %v", got, want)
			}
			for n, r := range res.Identities {
				if r.GetPatchId() != patches[n].GetPatchId() {
					t.Errorf("result %d: patch_id %q, want %q", n, r.GetPatchId(), patches[n].GetPatchId())
				}
			}
			if e := itemError(t, res.Identities[2]); e["code"] != float64(400) || e["status"] != "Bad Request" ||
				!strings.Contains(e["reason"].(string), "email") || e["message"] != "The request was malformed or contained invalid parameters" {
				t.Errorf("missing traits: %v", e)
			}
			for _, n := range []int{4, 5} {
				if e := itemError(t, res.Identities[n]); e["code"] != float64(409) || e["status"] != "Conflict" ||
					e["message"] != "Unable to insert or update resource because a resource with that value exists already" {
					t.Errorf("result %d: %v", n, e)
				}
			}
			if e := itemError(t, res.Identities[6]); e["code"] != float64(400) || e["reason"] != "Unable to find JSON Schema ID: nonexistent_schema" {
				t.Errorf("unknown schema: %v", e)
			}
			// Every created identity is stored as a single create stores it;
			// nothing of the failed ones is.
			for _, n := range []int{0, 1, 3, 7} {
				email := creates[n].Traits["email"].(string)
				got := f.srv.MustGetIdentity(t, res.Identities[n].GetIdentity())
				if got.Traits.(map[string]any)["email"] != email || got.GetExternalId() != "ext-"+email || got.MetadataAdmin["crm"] != email {
					t.Errorf("identity %d: %+v", n, got)
				}
				if va := got.VerifiableAddresses; len(va) != 1 || !va[0].Verified || va[0].Status != "completed" {
					t.Errorf("identity %d: verifiable addresses %+v", n, va)
				}
				if ids := (*got.Credentials)["password"].Identifiers; len(ids) != 1 || ids[0] != email {
					t.Errorf("identity %d: identifiers %v", n, ids)
				}
				if !f.srv.PasswordIs(t, got.Id, "pw-of-"+email) {
					t.Errorf("identity %d: imported hash does not verify", n)
				}
			}
			after := f.counts()
			for _, table := range identityTables {
				if after[table] != before[table]+4 {
					t.Errorf("%s: %d rows, want %d", table, after[table], before[table]+4)
				}
			}
		})

		t.Run("PlainPasswordIsHashedAsOnSingleCreate", func(t *testing.T) {
			f := sub(t)
			res, _, err := f.batch(ory.IdentityPatch{Create: batchIdentity(t, "plain@batch.test", true)})
			if err != nil || res.Identities[0].GetAction() != "create" {
				t.Fatalf("batch: %v %s %+v", err, errBody(err), res)
			}
			id := res.Identities[0].GetIdentity()
			if h := f.srv.HashedPassword(t, id); !strings.HasPrefix(h, "$2a$") || !f.srv.PasswordIs(t, id, "pw-of-plain@batch.test") {
				t.Errorf("stored hash %q", h)
			}
		})

		t.Run("PatchesWithoutCreateGetNull", func(t *testing.T) {
			f := sub(t)
			body := mustJSON(t, map[string]any{"identities": []any{
				map[string]any{"patch_id": "00000000-0000-0000-0000-000000000001"},
				map[string]any{"create": batchIdentity(t, "between-nulls@batch.test", false)},
				map[string]any{},
			}})
			status, got := f.do(http.MethodPatch, "/admin/identities", "application/json", body)
			var res struct {
				Identities []json.RawMessage `json:"identities"`
			}
			if err := json.Unmarshal([]byte(got), &res); status != http.StatusOK || err != nil || len(res.Identities) != 3 {
				t.Fatalf("%d %s", status, got)
			}
			if string(res.Identities[0]) != "null" || string(res.Identities[2]) != "null" {
				t.Errorf("results without create: %s", got)
			}
			var created map[string]string
			if err := json.Unmarshal(res.Identities[1], &created); err != nil || created["action"] != "create" || created["identity"] == "" || len(created) != 2 {
				t.Errorf("created result: %s", res.Identities[1])
			}
		})

		t.Run("EmptyBatchAnswersAnEmptyList", func(t *testing.T) {
			f := sub(t)
			for _, body := range []string{`{}`, `{"identities":[]}`} {
				if status, got := f.do(http.MethodPatch, "/admin/identities", "application/json", body); status != http.StatusOK || got != `{"identities":[]}`+"\n" {
					t.Errorf("%s: %d %s", body, status, got)
				}
			}
		})

		t.Run("WholeBatchRefusals", func(t *testing.T) {
			f := sub(t)
			many := func(n int, plain bool) []ory.IdentityPatch {
				out := make([]ory.IdentityPatch, n)
				for k := range out {
					c := &ory.CreateIdentityBody{SchemaId: "default", Traits: map[string]any{"email": fmt.Sprintf("many-%d@batch.test", k)}}
					if plain {
						c.Credentials = &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
							Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString("x")}}}
					}
					out[k] = ory.IdentityPatch{Create: c}
				}
				return out
			}
			badHash := batchIdentity(t, "bad-hash@batch.test", false)
			badHash.Credentials.Password.Config.HashedPassword = ory.PtrString("not-a-hash")
			badState := batchIdentity(t, "bad-state@batch.test", false)
			badState.State = ory.PtrString("deleted")
			for _, c := range []struct {
				name    string
				patches []ory.IdentityPatch
				reason  string
			}{
				{"MoreThan1000", many(identity.MaxBatchSize+1, false),
					"The maximum number of identities per request that can be created or deleted at once is 1000."},
				{"MoreThan200PlainPasswords", many(identity.MaxBatchPlaintextPasswords+1, true),
					"The maximum number of identities per request that can be created with a plaintext password is 200."},
				{"UnknownHashFormat", []ory.IdentityPatch{{Create: batchIdentity(t, "fine@batch.test", false)}, {Create: badHash}},
					"The imported password does not match any known hash format. For more information see https://www.ory.sh/dr/2"},
				{"InvalidState", []ory.IdentityPatch{{Create: batchIdentity(t, "fine@batch.test", false)}, {Create: badState}},
					"identity state is not valid"},
			} {
				t.Run(c.name, func(t *testing.T) {
					before := f.counts()
					_, resp, err := f.batch(c.patches...)
					if err == nil || resp.StatusCode != http.StatusBadRequest {
						t.Fatalf("err %v, response %+v", err, resp)
					}
					if e := decodeError(t, errBody(err)); e.Error.Reason != c.reason || e.Error.Status != "Bad Request" {
						t.Errorf("error %+v, want reason %q", e.Error, c.reason)
					}
					if after := f.counts(); !equalCounts(before, after) {
						t.Errorf("a refused batch wrote rows: %v → %v", before, after)
					}
				})
			}
			t.Run("Exactly200PlainPasswordsAreAccepted", func(t *testing.T) {
				patches := many(identity.MaxBatchPlaintextPasswords, true)
				for k := range patches {
					patches[k].Create.Traits = map[string]any{"email": fmt.Sprintf("plain-%d@batch.test", k)}
				}
				res, _, err := f.batch(patches...)
				if err != nil || len(res.Identities) != identity.MaxBatchPlaintextPasswords || res.Identities[199].GetAction() != "create" {
					t.Fatalf("%v %s", err, errBody(err))
				}
			})
		})

		t.Run("ThousandIdentitiesOverOneMebibyte", func(t *testing.T) {
			f := sub(t)
			// One hash for all: a thousand bcrypt runs would only slow the test.
			creds := batchIdentity(t, "bulk@batch.test", false).Credentials
			patches := make([]ory.IdentityPatch, identity.MaxBatchSize)
			for k := range patches {
				email := fmt.Sprintf("bulk-%04d@batch.test", k)
				c := &ory.CreateIdentityBody{SchemaId: "default", Traits: map[string]any{"email": email}, Credentials: creds,
					MetadataAdmin: map[string]any{"note": strings.Repeat("n", 1100)}}
				patches[k] = ory.IdentityPatch{Create: c}
			}
			if n := len(mustJSON(t, ory.PatchIdentitiesBody{Identities: patches})); n <= 1<<20 {
				t.Fatalf("body of %d bytes does not test the raised limit", n)
			}
			before := f.counts()
			res, _, err := f.batch(patches...)
			if err != nil {
				t.Fatalf("%v %s", err, errBody(err))
			}
			for n, r := range res.Identities {
				if r.GetAction() != "create" {
					t.Fatalf("result %d: %+v", n, r)
				}
			}
			if after := f.counts(); after["identities"] != before["identities"]+identity.MaxBatchSize {
				t.Errorf("identities %d → %d", before["identities"], after["identities"])
			}
		})

		t.Run("BadInputIs400NeverA500", func(t *testing.T) {
			f := sub(t)
			for _, c := range []struct{ name, body, reason string }{
				{"NotJSON", `identities`, "Unable to decode JSON payload: invalid character 'i' looking for beginning of value"},
				{"Empty", ``, "Unable to decode JSON payload: the request body is empty."},
				// Kratos v26.2.0 has no action field and no delete: its
				// strict decoder refuses both.
				{"DeleteAction", `{"identities":[{"action":"delete","patch_id":"00000000-0000-0000-0000-000000000001"}]}`,
					`Unable to decode JSON payload: json: unknown field "action"`},
				{"UnknownCreateField", `{"identities":[{"create":{"schema_id":"default","traits":{},"password":"x"}}]}`,
					`Unable to decode JSON payload: json: unknown field "password"`},
				{"PatchIDNotAUUID", `{"identities":[{"patch_id":"nope"}]}`, "Unable to decode JSON payload: invalid UUID length: 4"},
				{"IdentitiesNotAList", `{"identities":{}}`, "Unable to decode JSON payload: json: cannot unmarshal object"},
			} {
				t.Run(c.name, func(t *testing.T) {
					status, body := f.do(http.MethodPatch, "/admin/identities", "application/json", c.body)
					if e := decodeError(t, body); status != http.StatusBadRequest || e.Error.Code != 400 || !strings.HasPrefix(e.Error.Reason, c.reason) {
						t.Errorf("%d %s, want reason %q", status, body, c.reason)
					}
				})
			}
		})
	})
}
