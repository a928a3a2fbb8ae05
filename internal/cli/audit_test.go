package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// auditList runs `latchkey audit list ARGS…` with the back end.
func (b identityBackend) auditList(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return run(t, dir, b.env, "", append(append([]string{"audit", "list"}, args...), b.args...)...)
}

// eventsOf reads --format json output.
func eventsOf(t *testing.T, r result) []audit.Event {
	t.Helper()
	var events []audit.Event
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &events) != nil {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	return events
}

func eventIDs(events []audit.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID.String()
	}
	return out
}

// TestAuditList runs `latchkey audit list` against a server's admin API
// and against its database, on each dialect: formats, filters, every page
// followed, --limit, and errors.
func TestAuditList(t *testing.T) {
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		srv := servertest.Start(t, servertest.Options{Dialect: d, NoSMTP: true})
		ctx := context.Background()
		alice := srv.MustCreateIdentity(t, "alice@audit-cli.test", "correct horse battery staple").Id
		res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
			map[string]any{"identity_id": alice, "reason": "ticket 42"}, nil)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("admin recovery code: %d %v", res.StatusCode, body)
		}
		// Bob's events: five an hour apart ending two days ago, then one
		// an hour ago whose reason tries to drive the terminal.
		bob := uuid.New()
		rec := &audit.Recorder{Store: sqlstore.NewAuditStore(srv.DB)}
		now := time.Now().UTC().Truncate(time.Second)
		base := now.Add(-52 * time.Hour)
		types := []audit.Type{audit.PasswordChanged, audit.LoginSucceeded, audit.LoginFailed, audit.SessionRevoked, audit.PasswordChanged, audit.LockdownConfirmed}
		for i, typ := range types {
			at := base.Add(time.Duration(i) * time.Hour)
			reason := ""
			if i == len(types)-1 {
				at, reason = now.Add(-time.Hour), "line one\nline two \x1b[31mred"
			}
			if err := rec.Record(ctx, audit.Event{Type: typ, IdentityID: &bob, Time: at, Method: "password", Reason: reason}); err != nil {
				t.Fatal(err)
			}
		}
		_, raw := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodGet, srv.Admin.URL+"/admin/audit/events", nil, nil)
		var all []audit.Event
		if err := json.Unmarshal(raw, &all); err != nil || len(all) != 7 {
			t.Fatalf("the API lists %s", raw)
		}

		for _, b := range identityBackends(srv) {
			t.Run(b.name, func(t *testing.T) {
				dir := t.TempDir()

				t.Run("TableOfTheAdminsReason", func(t *testing.T) {
					r := b.auditList(t, dir, "--identity", alice)
					lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
					if r.code != 0 || len(lines) != 2 {
						t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
					}
					if got := strings.Fields(lines[0]); strings.Join(got, " ") != "TIME TYPE ACTOR IDENTITY METHOD RESULT CLIENT IP REASON" {
						t.Errorf("header %q", lines[0])
					}
					cells := strings.Split(lines[1], "\t")
					var row []string
					for _, c := range cells {
						if c != "" {
							row = append(row, c)
						}
					}
					want := []string{all[0].Time.Format(time.RFC3339), "admin.recovery_code_created", "admin", alice, "code", "success", "127.0.0.1", "ticket 42"}
					if !slices.Equal(row, want) {
						t.Errorf("row %q, want %q", row, want)
					}
				})

				t.Run("JSONFollowsEveryPage", func(t *testing.T) {
					got := eventsOf(t, b.auditList(t, dir, "--format", "json", "--page-size", "2"))
					if !slices.Equal(eventIDs(got), eventIDs(all)) {
						t.Errorf("ids %v, want %v", eventIDs(got), eventIDs(all))
					}
					pretty := eventsOf(t, b.auditList(t, dir, "--format", "json-pretty", "--page-size", "3"))
					if !slices.Equal(eventIDs(pretty), eventIDs(all)) {
						t.Errorf("json-pretty ids %v", eventIDs(pretty))
					}
				})

				t.Run("LimitStopsEarly", func(t *testing.T) {
					got := eventsOf(t, b.auditList(t, dir, "--format", "json", "--page-size", "2", "--limit", "3"))
					if !slices.Equal(eventIDs(got), eventIDs(all[:3])) {
						t.Errorf("ids %v, want the first three", eventIDs(got))
					}
					r := b.auditList(t, dir, "-q", "--limit", "1")
					if r.code != 0 || r.stdout != all[0].ID.String()+"\n" {
						t.Errorf("-q --limit 1: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
					}
				})

				t.Run("Filters", func(t *testing.T) {
					for _, c := range []struct {
						args []string
						want []audit.Event
					}{
						{[]string{"--identity", bob.String()}, all[1:]},
						{[]string{"--type", "password.changed", "--type", "login.failed,admin.recovery_code_created"}, []audit.Event{all[0], all[1], all[3], all[5]}},
						{[]string{"--identity", bob.String(), "--since", "24h"}, all[6:]},
						{[]string{"--identity", bob.String(), "--until", "24h"}, all[1:6]},
						{[]string{"--identity", bob.String(), "--since", base.Add(time.Hour).Format(time.RFC3339), "--until", base.Add(3 * time.Hour).Format(time.RFC3339)}, all[2:4]},
						{[]string{"--identity", uuid.NewString()}, nil},
					} {
						got := eventsOf(t, b.auditList(t, dir, append(c.args, "--format", "json")...))
						if !slices.Equal(eventIDs(got), eventIDs(c.want)) {
							t.Errorf("%v: %v, want %v", c.args, servertest.AuditTypes(got), servertest.AuditTypes(c.want))
						}
					}
				})

				t.Run("EmptyListIsAnEmptyArrayOrABareHeader", func(t *testing.T) {
					if r := b.auditList(t, dir, "--identity", uuid.NewString(), "--format", "json"); r.code != 0 || r.stdout != "[]\n" {
						t.Errorf("json: exit %d, stdout %q", r.code, r.stdout)
					}
					if r := b.auditList(t, dir, "--identity", uuid.NewString()); r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(r.stdout, "TIME") {
						t.Errorf("table: exit %d, stdout %q", r.code, r.stdout)
					}
				})

				t.Run("ControlCharactersAreNotPrinted", func(t *testing.T) {
					r := b.auditList(t, dir, "--type", "lockdown.confirmed")
					if r.code != 0 || strings.ContainsAny(r.stdout, "\x1b\r") || strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "line one line two  [31mred") {
						t.Errorf("exit %d, stdout %q", r.code, r.stdout)
					}
				})

				t.Run("Errors", func(t *testing.T) {
					for _, c := range []struct {
						args []string
						want string
					}{
						{[]string{"--type", "password.reset"}, `Error: type "password.reset" is not an audit event type; known types: recovery.requested,`},
						{[]string{"--identity", "alice"}, `Error: identity_id must be a UUID, got "alice"`},
						{[]string{"--since", "yesterday"}, `Error: --since: "yesterday" is neither an RFC 3339 time (2026-01-31T09:00:00Z) nor a duration (24h)`},
						{[]string{"--until", "-2h"}, `Error: --until: the duration "-2h" must not be negative`},
						{[]string{"--since", "1h", "--until", "2h"}, "Error: until must be later than since"},
						{[]string{"--page-size", "1001"}, "Error: --page-size must be between 1 and 1000, got 1001"},
						{[]string{"--format", "yaml"}, `Error: unknown --format "yaml"`},
						{[]string{"extra"}, `Error: list takes no arguments, got "extra"`},
					} {
						r := b.auditList(t, dir, c.args...)
						if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, c.want) {
							t.Errorf("%v: exit %d, stdout %q, stderr %q, want %q", c.args, r.code, r.stdout, r.stderr, c.want)
						}
					}
				})
			})
		}
	})
}

// TestAuditListWithoutBackEnd: with neither an endpoint nor a database,
// the command says how to give one.
func TestAuditListWithoutBackEnd(t *testing.T) {
	r := run(t, t.TempDir(), nil, "", "audit", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "no server or database given: pass --endpoint URL") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
