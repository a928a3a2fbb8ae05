package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// identityBackend is one way the identities commands reach a server's
// identities: its admin API, or its database with the configuration in
// the environment.
type identityBackend struct {
	name string
	env  []string
	args []string // the flags that select it
	// actor is who the audit log names for a change through it.
	actor audit.Actor
}

func identityBackends(srv *servertest.Server) []identityBackend {
	return []identityBackend{
		{name: "AdminAPI", args: []string{"--endpoint", srv.Admin.URL}, actor: audit.ActorAdmin},
		{name: "Database", args: []string{"-e"}, actor: audit.ActorSystem, env: []string{
			"DSN=" + srv.Config.DSN,
			// servertest's secret and public URL, so both back ends show
			// the same schema_url and open the same sealed configs.
			`SECRETS_DEFAULT=["test-secret-0123456789abcdef"]`,
			"SERVE_PUBLIC_BASE_URL=" + srv.Config.Serve.Public.BaseURL,
			"HASHERS_BCRYPT_COST=4",
		}},
	}
}

// identities runs `latchkey identities ARGS…` with the back end.
func (b identityBackend) identities(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	return run(t, dir, b.env, stdin, append(append([]string{"identities"}, args...), b.args...)...)
}

var uuidLine = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ids reads -q output: one id per line.
func ids(t *testing.T, stdout string) []string {
	t.Helper()
	lines := strings.Fields(stdout)
	for _, l := range lines {
		if !uuidLine.MatchString(l) {
			t.Fatalf("not an id per line: %q", stdout)
		}
	}
	return lines
}

// adminGet is the admin API's answer to GET path, without its newline.
func adminGet(t *testing.T, srv *servertest.Server, path string) (int, string) {
	t.Helper()
	status, body := do(t, http.MethodGet, srv.Admin.URL+path, "", "")
	return status, strings.TrimSuffix(body, "\n")
}

// TestIdentitiesCommands runs each identities command against a server's
// admin API and against its database, on each dialect.
func TestIdentitiesCommands(t *testing.T) {
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		srv := servertest.Start(t, servertest.Options{Dialect: d, NoSMTP: true})
		sdk := srv.SDK(false)
		ctx := context.Background()
		for _, b := range identityBackends(srv) {
			t.Run(b.name, func(t *testing.T) {
				dir := t.TempDir()
				// Every email of this back end, so the two share nothing.
				email := func(local string) string { return local + "-" + strings.ToLower(b.name) + "@cli.test" }

				t.Run("ImportFromFileAndStdin", func(t *testing.T) {
					hash, err := bcrypt.GenerateFromPassword([]byte("Grace-Passw0rd!"), 4)
					if err != nil {
						t.Fatal(err)
					}
					file := writeFile(t, dir, "users.json", `[
						{"schema_id":"default","traits":{"email":"`+email("ada")+`"},
						 "credentials":{"password":{"config":{"password":"Ada-Passw0rd!"}}}},
						{"schema_id":"default","traits":{"email":"`+email("grace")+`"},
						 "credentials":{"password":{"config":{"hashed_password":"`+string(hash)+`"}}}}
					]`)
					r := b.identities(t, dir, "", "import", file, "-q")
					created := ids(t, r.stdout)
					if r.code != 0 || len(created) != 2 {
						t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
					}
					if !srv.PasswordIs(t, created[0], "Ada-Passw0rd!") || !srv.PasswordIs(t, created[1], "Grace-Passw0rd!") {
						t.Error("imported passwords do not verify")
					}

					r = b.identities(t, dir, `{"schema_id":"default","traits":{"email":"`+email("linus")+`"}}`, "import", "--format", "json")
					var doc struct {
						ID     string            `json:"id"`
						Traits map[string]string `json:"traits"`
					}
					if err := json.Unmarshal([]byte(r.stdout), &doc); r.code != 0 || err != nil || doc.Traits["email"] != email("linus") {
						t.Fatalf("stdin: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
					}
					if status, _ := adminGet(t, srv, "/admin/identities/"+doc.ID); status != http.StatusOK {
						t.Errorf("the identity imported from stdin is not there: %d", status)
					}

					r = b.identities(t, dir, `{"schema_id":"default","traits":{"email":"`+email("dash")+`"}}`, "import", "-", "-q")
					if r.code != 0 || len(ids(t, r.stdout)) != 1 {
						t.Fatalf(`"-": exit %d, stdout %q, stderr %q`, r.code, r.stdout, r.stderr)
					}
				})

				t.Run("ImportReportsEachFailureAndCreatesTheRest", func(t *testing.T) {
					file := writeFile(t, dir, "mixed.json", `[
						{"schema_id":"default","traits":{"email":"`+email("mixed")+`"}},
						{"schema_id":"default","traits":{"email":"`+email("ada")+`"}},
						{"schema_id":"nope","traits":{}}
					]`)
					r := b.identities(t, dir, "", "import", file, "-q")
					if r.code != 1 || len(ids(t, r.stdout)) != 1 {
						t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
					}
					want := file + "[1]: This identity conflicts with another identity that already exists.\n" +
						file + "[2]: Unable to find JSON Schema ID: nope\n" +
						"Error: 2 of 3 identities could not be imported\n"
					if r.stderr != want {
						t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
					}
				})

				t.Run("ImportOfNoJSONCreatesNothing", func(t *testing.T) {
					before := srv.CountRows(t, "identities")
					r := b.identities(t, dir, `{"schema_id":"default",`, "import")
					if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "STD_IN: not JSON") {
						t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
					}
					if after := srv.CountRows(t, "identities"); after != before {
						t.Errorf("identities %d → %d", before, after)
					}
				})

				t.Run("ListFormatsAndPages", func(t *testing.T) {
					all, _, err := sdk.IdentityAPI.ListIdentities(ctx).PageSize(1000).Execute()
					if err != nil {
						t.Fatal(err)
					}
					var want []string
					for _, i := range all {
						want = append(want, i.Id)
					}

					r := b.identities(t, dir, "", "list")
					lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
					if r.code != 0 || len(lines) != len(want)+3 {
						t.Fatalf("exit %d, %d lines for %d identities:\n%s%s", r.code, len(lines), len(want), r.stdout, r.stderr)
					}
					if got := strings.Fields(lines[0]); strings.Join(got, " ") != "ID VERIFIED ADDRESSES RECOVERY ADDRESSES SCHEMA ID SCHEMA URL" {
						t.Errorf("header %q", lines[0])
					}
					if row := strings.Fields(lines[1]); row[0] != want[0] || row[len(row)-1] != srv.Config.PublicURL("schemas/ZGVmYXVsdA") {
						t.Errorf("first row %q", lines[1])
					}
					if last := strings.Fields(lines[len(lines)-1]); strings.Join(last, " ") != "NEXT PAGE TOKEN" {
						t.Errorf("last line %q: want an empty next page token", lines[len(lines)-1])
					}

					r = b.identities(t, dir, "", "list", "--format", "json-pretty")
					if r.code != 0 || !strings.HasPrefix(r.stdout, "{\n  \"identities\": [\n    {\n      \"id\": ") {
						t.Fatalf("json-pretty: exit %d, stdout %.80q", r.code, r.stdout)
					}

					// Page by page, one identity a page, until the token is empty.
					var got []string
					token := ""
					for page := 0; page <= len(want); page++ {
						args := []string{"list", "--format", "json", "--page-size", "1"}
						if token != "" {
							args = append(args, "--page-token", token)
						}
						r := b.identities(t, dir, "", args...)
						var p struct {
							Identities []struct {
								ID string `json:"id"`
							} `json:"identities"`
							NextPageToken *string `json:"next_page_token"`
						}
						if err := json.Unmarshal([]byte(r.stdout), &p); r.code != 0 || err != nil || p.NextPageToken == nil {
							t.Fatalf("page %d: exit %d, stdout %q, stderr %q", page, r.code, r.stdout, r.stderr)
						}
						for _, i := range p.Identities {
							got = append(got, i.ID)
						}
						if token = *p.NextPageToken; token == "" {
							break
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("paged ids %v, want %v", got, want)
					}
				})

				t.Run("GetShowsWhatTheAdminAPIShows", func(t *testing.T) {
					i := srv.MustCreateIdentity(t, email("get"), "Get-Passw0rd!")
					for _, c := range []struct{ flags, query []string }{
						{nil, nil},
						{[]string{"--include-credentials", "password"}, []string{"?include_credential=password"}},
					} {
						r := b.identities(t, dir, "", append([]string{"get", i.Id, "--format", "json"}, c.flags...)...)
						_, want := adminGet(t, srv, "/admin/identities/"+i.Id+strings.Join(c.query, ""))
						if r.code != 0 || r.stdout != want+"\n" {
							t.Errorf("%v: exit %d, stderr %q\ngot  %s\nwant %s", c.flags, r.code, r.stderr, r.stdout, want)
						}
					}
					r := b.identities(t, dir, "", "get", i.Id)
					if first := strings.Fields(strings.SplitN(r.stdout, "\n", 2)[0]); r.code != 0 || len(first) != 2 || first[0] != "ID" || first[1] != i.Id {
						t.Errorf("table: exit %d, stdout %q", r.code, r.stdout)
					}
				})

				t.Run("GetAndDeleteOfUnknownIDsFailClearly", func(t *testing.T) {
					known := srv.MustCreateIdentity(t, email("known"), "")
					unknown := "00000000-0000-4000-8000-000000000000"
					for _, verb := range []string{"get", "delete"} {
						r := b.identities(t, dir, "", verb, unknown, "not-an-id")
						want := unknown + ": The requested identity does not exist.\n" +
							`not-an-id: The identity id "not-an-id" is not a valid UUID.` + "\n"
						if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, want) {
							t.Errorf("%s: exit %d, stdout %q, stderr %q", verb, r.code, r.stdout, r.stderr)
						}
					}
					// The known one is still handled.
					r := b.identities(t, dir, "", "get", known.Id, unknown, "-q")
					if r.code != 1 || r.stdout != known.Id+"\n" || !strings.Contains(r.stderr, "1 of 2 identities could not be shown") {
						t.Errorf("get known and unknown: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
					}
				})

				t.Run("DeleteRemovesTheIdentity", func(t *testing.T) {
					i := srv.MustCreateIdentity(t, email("delete"), "Delete-Passw0rd!")
					r := b.identities(t, dir, "", "delete", i.Id, "-q")
					if r.code != 0 || r.stdout != i.Id+"\n" {
						t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
					}
					if status, _ := adminGet(t, srv, "/admin/identities/"+i.Id); status != http.StatusNotFound {
						t.Errorf("GET after delete: %d", status)
					}
				})

				t.Run("PatchAppliesAJSONPatch", func(t *testing.T) {
					i := srv.MustCreateIdentity(t, email("patch"), "Old-Passw0rd!")
					file := writeFile(t, dir, "patch.json", `[
						{"op":"add","path":"/traits/name","value":"Patched"},
						{"op":"replace","path":"/state","value":"inactive"},
						{"op":"add","path":"/credentials/password/config/password","value":"New-Passw0rd!"}
					]`)
					r := b.identities(t, dir, "", "patch", i.Id, "--file", file, "--format", "json")
					var doc struct {
						State  string            `json:"state"`
						Traits map[string]string `json:"traits"`
					}
					if err := json.Unmarshal([]byte(r.stdout), &doc); r.code != 0 || err != nil || doc.State != "inactive" || doc.Traits["name"] != "Patched" {
						t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
					}
					got := srv.MustGetIdentity(t, i.Id)
					if got.GetState() != "inactive" || !srv.PasswordIs(t, i.Id, "New-Passw0rd!") {
						t.Errorf("stored: state %q, new password set %v", got.GetState(), srv.PasswordIs(t, i.Id, "New-Passw0rd!"))
					}

					// Recorded as a change through the admin API is; the
					// database back end is the system, and its notification
					// waits in the queue for a server to send it.
					events := srv.AuditEvents(t, i.Id)
					if len(events) != 1 || events[0].Type != audit.PasswordChanged || events[0].Actor != b.actor {
						t.Errorf("events %v, want one password.changed by %s", servertest.AuditTypes(events), b.actor)
					}
					if b.actor == audit.ActorSystem {
						if status, body := adminGet(t, srv, "/admin/courier/messages?recipient="+email("patch")); status != http.StatusOK || !strings.Contains(body, `"template_type":"security_password_changed"`) {
							t.Errorf("no password notification queued: %d %s", status, body)
						}
					}

					r = b.identities(t, dir, `[{"op":"replace","path":"/id","value":"x"}]`, "patch", i.Id, "--file", "-")
					if r.code != 1 || !strings.HasPrefix(r.stderr, i.Id+": patch includes denied path: /id\n") {
						t.Errorf("denied path: exit %d, stderr %q", r.code, r.stderr)
					}
				})
			})
		}
	})
}

// TestIdentitiesBackEndChoice: the commands say what is missing or
// contradictory instead of guessing.
func TestIdentitiesBackEndChoice(t *testing.T) {
	dir := t.TempDir()
	srv := servertest.Start(t, servertest.Options{NoSMTP: true})
	i := srv.MustCreateIdentityBody(t, ory.CreateIdentityBody{SchemaId: "default", Traits: map[string]any{"email": "env@cli.test"}})

	t.Run("AdminURLFromTheEnvironment", func(t *testing.T) {
		for _, env := range []string{"LATCHKEY_ADMIN_URL", "KRATOS_ADMIN_URL"} {
			r := run(t, dir, []string{env + "=" + srv.Admin.URL}, "", "identities", "get", i.Id, "-q")
			if r.code != 0 || r.stdout != i.Id+"\n" {
				t.Errorf("%s: exit %d, stdout %q, stderr %q", env, r.code, r.stdout, r.stderr)
			}
		}
	})

	unmigrated := sqltest.DSN(t, sqlstore.SQLite)
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"NoBackEnd", nil, []string{"list"}, "no server or database given: pass --endpoint URL"},
		{"BothBackEnds", []string{"DSN=" + srv.Config.DSN}, []string{"list", "-e", "--endpoint", srv.Admin.URL}, "give one or the other"},
		{"KratosStyleEndpointAfterE", nil, []string{"list", "-e", srv.Admin.URL}, "for a server's admin API use --endpoint " + srv.Admin.URL},
		{"EWithoutDSN", nil, []string{"list", "-e"}, "DSN environment variable is empty"},
		{"NotAnHTTPURL", nil, []string{"list", "--endpoint", "postgres://u:s3cret-pw@db/x"}, "must be an http(s) URL"},
		{"UnknownFormat", nil, []string{"list", "--endpoint", srv.Admin.URL, "--format", "yaml"}, `unknown --format "yaml"`},
		{"PendingMigrations", []string{"DSN=" + unmigrated, testSecretsEnv}, []string{"list", "-e"}, "pending migration(s): run `latchkey migrate sql -e --yes` first"},
		{"ServerDown", nil, []string{"get", i.Id, "--endpoint", "http://127.0.0.1:1"}, "connection refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, dir, c.env, "", append([]string{"identities"}, c.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, "s3cret-pw") {
				t.Errorf("exit %d, stdout %q, stderr %q, want %q", r.code, r.stdout, r.stderr, c.want)
			}
		})
	}
}
