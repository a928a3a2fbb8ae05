package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestKilledDatabaseConnections: every connection Latchkey holds to its
// database is killed from outside (pg_terminate_backend, KILL), as an
// operator or a database restart would. The next request of each kind
// succeeds, not 500, and writes what it writes once.
func TestKilledDatabaseConnections(t *testing.T) {
	for _, d := range replicaDialects {
		t.Run(string(d), func(t *testing.T) {
			srv := servertest.Start(t, servertest.Options{Dialect: d})
			ctx := context.Background()
			count := func(t *testing.T, q string, args ...any) int {
				t.Helper()
				var n int
				if err := srv.DB.QueryRow(ctx, q, args...).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			kill := func(t *testing.T) {
				t.Helper()
				if n := srv.KillDatabaseConnections(t); n == 0 {
					t.Fatal("no connection to kill")
				}
			}

			t.Run("Whoami", func(t *testing.T) {
				email := "killed-whoami-" + uuid.NewString()[:8] + "@example.test"
				srv.MustCreateIdentity(t, email, replicaPassword)
				tok := srv.MustNativeLogin(t, email, replicaPassword)
				kill(t)
				if got := whoami(t, srv, tok); got != http.StatusOK {
					t.Fatalf("whoami after the kill: %d", got)
				}
			})

			t.Run("RecoverySubmission", func(t *testing.T) {
				email := "killed-recovery-" + uuid.NewString()[:8] + "@example.test"
				srv.MustCreateIdentity(t, email, replicaPassword)
				f := call(t, srv, http.MethodGet, srv.Public.URL+"/self-service/recovery/api", nil, nil, http.StatusOK)
				kill(t)
				sent := call(t, srv, http.MethodPost, srv.Public.URL+"/self-service/recovery?flow="+f["id"].(string),
					map[string]any{"method": "code", "email": email}, nil, http.StatusOK)
				if sent["state"] != "sent_email" {
					t.Fatalf("state %v", sent["state"])
				}
				// The courier prepares the request after the answer: one
				// code mail arrives, and one message is left in the queue.
				srv.RecoveryCode(t, email)
				if n := count(t, `SELECT COUNT(*) FROM courier_messages WHERE recipient = ?`, email); n != 1 {
					t.Fatalf("%d messages queued", n)
				}
				if n := srv.SMTP.CountTo(email); n != 1 {
					t.Fatalf("%d mails sent", n)
				}
			})

			t.Run("AdminCreateIdentity", func(t *testing.T) {
				email := "killed-admin-" + uuid.NewString()[:8] + "@example.test"
				srv.MustCreateIdentity(t, "warm-"+email, replicaPassword) // the pool holds connections
				kill(t)
				call(t, srv, http.MethodPost, srv.Admin.URL+"/admin/identities",
					map[string]any{"schema_id": "default", "traits": map[string]any{"email": email}}, nil, http.StatusCreated)
				if n := count(t, `SELECT COUNT(*) FROM identity_recovery_addresses WHERE value = ?`, email); n != 1 {
					t.Fatalf("%d identities written", n)
				}
			})
		})
	}
}
