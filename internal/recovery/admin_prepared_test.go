package recovery_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// An admin code is prepared (identity read, notification rendered and
// sealed) before its transaction. These tests change the identity in
// the transaction itself, right after the flow's insert, through a
// trigger: what is written must follow the identity as the transaction
// sees it, as when everything was done in the transaction.

// onFlowInsert installs a trigger that runs stmts (one dialect's
// statements for the trigger body) after every selfservice_flows insert,
// and returns the function that removes it.
func onFlowInsert(t *testing.T, srv *servertest.Server, body map[sqlstore.Dialect][]string) func() {
	t.Helper()
	const name = "admin_prepared_test"
	var create, drop []string
	stmts := body[srv.DB.Dialect]
	switch srv.DB.Dialect {
	case sqlstore.SQLite:
		q := `CREATE TRIGGER ` + name + ` AFTER INSERT ON selfservice_flows BEGIN `
		for _, s := range stmts {
			q += s + "; "
		}
		create, drop = []string{q + `END`}, []string{`DROP TRIGGER ` + name}
	case sqlstore.Postgres:
		q := `CREATE FUNCTION ` + name + `() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN `
		for _, s := range stmts {
			q += s + "; "
		}
		create = []string{q + `RETURN NEW; END $$`,
			`CREATE TRIGGER ` + name + ` AFTER INSERT ON selfservice_flows FOR EACH ROW EXECUTE FUNCTION ` + name + `()`}
		drop = []string{`DROP TRIGGER ` + name + ` ON selfservice_flows`, `DROP FUNCTION ` + name + `()`}
	case sqlstore.MySQL:
		q := `CREATE TRIGGER ` + name + ` AFTER INSERT ON selfservice_flows FOR EACH ROW BEGIN `
		for _, s := range stmts {
			q += s + "; "
		}
		create, drop = []string{q + `END`}, []string{`DROP TRIGGER ` + name}
	}
	run := func(qs []string) {
		for _, q := range qs {
			if _, err := srv.DB.SQL.ExecContext(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	run(create)
	return func() { run(drop) }
}

// TestAdminCodeFollowsTheIdentityAtCommit: the identity's recovery
// address changes between the read and the transaction: the notification
// goes to the address the identity has when the code is written.
func TestAdminCodeFollowsTheIdentityAtCommit(t *testing.T) {
	servertest.Each(t, options(servertest.NotificationsOn()), func(t *testing.T, srv *servertest.Server) {
		old, moved := uniqueEmail("admin-before"), uniqueEmail("admin-after")
		id := mustIdentity(t, srv, old).Id
		where := ` WHERE identity_id = '` + id + `'`
		remove := onFlowInsert(t, srv, map[sqlstore.Dialect][]string{
			sqlstore.SQLite: {`UPDATE identity_recovery_addresses SET value = '` + moved + `'` + where,
				`UPDATE identities SET updated_at = '2030-01-01 00:00:00.000000' WHERE id = '` + id + `'`},
			sqlstore.Postgres: {`UPDATE identity_recovery_addresses SET value = '` + moved + `'` + where,
				`UPDATE identities SET updated_at = updated_at + interval '1 second' WHERE id = '` + id + `'`},
			sqlstore.MySQL: {`UPDATE identity_recovery_addresses SET value = '` + moved + `'` + where,
				`UPDATE identities SET updated_at = updated_at + INTERVAL 1 SECOND WHERE id = '` + id + `'`},
		})
		res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
			map[string]any{"identity_id": id}, nil)
		remove()
		if res.StatusCode != http.StatusCreated || len(dig(body, "recovery_code").(string)) != 6 {
			t.Fatalf("admin code: %d %v", res.StatusCode, body)
		}
		if n := len(queuedTo(t, srv, old)); n != 0 {
			t.Errorf("%d mails to the address the identity no longer has", n)
		}
		if ms := queuedTo(t, srv, moved); len(ms) != 1 || ms[0].TemplateType != "security_admin_recovery_issued" {
			t.Errorf("mails to the address it has now: %+v", ms)
		}
		if n := len(srv.AuditEvents(t, id)); n != 1 {
			t.Errorf("%d audit events, want the admin code's", n)
		}
	})
}

// TestAdminCodeForAnIdentityDeletedMeanwhile: the identity is deleted
// between the read and the transaction: 404, as for an unknown identity,
// and nothing is written.
func TestAdminCodeForAnIdentityDeletedMeanwhile(t *testing.T) {
	servertest.Each(t, options(servertest.NotificationsOn()), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("admin-deleted")
		id := mustIdentity(t, srv, email).Id
		del := `DELETE FROM identities WHERE id = '` + id + `'`
		remove := onFlowInsert(t, srv, map[sqlstore.Dialect][]string{sqlstore.SQLite: {del}, sqlstore.Postgres: {del}, sqlstore.MySQL: {del}})
		res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
			map[string]any{"identity_id": id}, nil)
		remove()
		if res.StatusCode != http.StatusNotFound || dig(body, "error", "reason") != "could not find identity" {
			t.Fatalf("admin code: %d %v", res.StatusCode, body)
		}
		var flows int
		if err := srv.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM selfservice_flows WHERE kind = 'recovery'`).Scan(&flows); err != nil {
			t.Fatal(err)
		}
		if flows != 0 || len(queuedTo(t, srv, email)) != 0 || len(srv.AuditEvents(t, id)) != 0 {
			t.Errorf("written anyway: %d flows, %d mails, %d events", flows, len(queuedTo(t, srv, email)), len(srv.AuditEvents(t, id)))
		}
	})
}

// TestAdminCodeNotificationIsPartOfTheCode: a notification that cannot
// be written rolls the code back with it (500), as before it was
// prepared ahead of the transaction.
func TestAdminCodeNotificationIsPartOfTheCode(t *testing.T) {
	servertest.Each(t, options(servertest.NotificationsOn()), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("admin-atomic")
		id := mustIdentity(t, srv, email).Id
		lift := srv.RefuseInserts(t, "courier_messages")
		res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
			map[string]any{"identity_id": id}, nil)
		lift()
		if res.StatusCode != http.StatusInternalServerError {
			t.Fatalf("admin code with its mail refused: %d %v", res.StatusCode, body)
		}
		var codes int
		ctx := context.Background()
		if err := srv.DB.QueryRow(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE identity_id = ?`, id).Scan(&codes); err != nil {
			t.Fatal(err)
		}
		if codes != 0 || len(srv.AuditEvents(t, id)) != 0 {
			t.Errorf("outlived the refused mail: %d codes, %d events", codes, len(srv.AuditEvents(t, id)))
		}
		// Once the mail can be written, the code and its warning are.
		res, body = servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
			map[string]any{"identity_id": id}, nil)
		if res.StatusCode != http.StatusCreated || len(queuedTo(t, srv, email)) != 1 {
			t.Fatalf("admin code: %d %v, %d mails", res.StatusCode, body, len(queuedTo(t, srv, email)))
		}
	})
}
