package recovery_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// TestRightCodeCountedOnce: a right code is counted and completes the
// flow in one transaction; a completion refused (the identity disabled
// after the code was sent) rolls back everything but the count and the
// recovery.failed event, so the same code works once the identity is
// active again.
func TestRightCodeCountedOnce(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		submissions := func(flowID string) int {
			t.Helper()
			var n int
			if err := srv.DB.QueryRow(ctx, `SELECT submissions FROM selfservice_flows WHERE id = ?`, flowID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		setState := func(id, state string) {
			t.Helper()
			res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPatch, srv.Admin.URL+"/admin/identities/"+id,
				[]map[string]any{{"op": "replace", "path": "/state", "value": state}}, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %v", state, res.StatusCode, body)
			}
		}

		t.Run("Success", func(t *testing.T) {
			email := uniqueEmail("counted")
			mustIdentity(t, srv, email)
			flowID, code := sentNativeFlow(t, srv, email)
			transactions := srv.DB.Counts().Transactions.Load()
			res, body := postJSON(t, srv, nil, flowID, `{"method":"code","code":"`+code+`"}`, nil)
			if res.StatusCode != http.StatusOK || dig(body, "state") != "passed_challenge" {
				t.Fatalf("code: %d %v", res.StatusCode, body)
			}
			// On PostgreSQL the courier's claims and records are single
			// statements, not transactions, so the count is the request's
			// alone (elsewhere they are transactions, and the mail just
			// read is recorded as sent about now).
			if n := srv.DB.Counts().Transactions.Load() - transactions; srv.DB.Dialect == sqlstore.Postgres && n != 1 {
				t.Errorf("the right code took %d transactions, want 1", n)
			}
			if n := submissions(flowID); n != 1 {
				t.Errorf("submissions = %d, want 1", n)
			}
		})

		t.Run("RefusedThenRetried", func(t *testing.T) {
			email := uniqueEmail("refused")
			ident := mustIdentity(t, srv, email)
			flowID, code := sentNativeFlow(t, srv, email)
			setState(ident.Id, "inactive")
			sessions := srv.CountRows(t, "sessions")
			res, body := postJSON(t, srv, nil, flowID, `{"method":"code","code":"`+code+`"}`, nil)
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("disabled identity's code: %d %v", res.StatusCode, body)
			}
			if n := submissions(flowID); n != 1 {
				t.Errorf("submissions after the refusal = %d, want 1", n)
			}
			if n := srv.CountRows(t, "sessions"); n != sessions {
				t.Errorf("the refusal left %d sessions, had %d", n, sessions)
			}
			refused := 0
			for _, e := range srv.AuditEvents(t, ident.Id) {
				if e.Type == "recovery.failed" && e.Result == "identity_inactive" {
					refused++
				}
			}
			if refused != 1 {
				t.Errorf("%d recovery.failed events with identity_inactive, want 1", refused)
			}

			// The refusal spent nothing: the code completes the flow now.
			setState(ident.Id, "active")
			res, body = postJSON(t, srv, nil, flowID, `{"method":"code","code":"`+code+`"}`, nil)
			if res.StatusCode != http.StatusOK || dig(body, "state") != "passed_challenge" {
				t.Fatalf("code after re-enabling: %d %v", res.StatusCode, body)
			}
			if n := submissions(flowID); n != 2 {
				t.Errorf("submissions = %d, want 2", n)
			}
		})
	})
}
