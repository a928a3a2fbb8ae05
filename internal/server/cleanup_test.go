package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestPeriodicCleanup: serve deletes expired flows and sessions by itself
// (database.cleanup.enabled is on by default) and leaves live ones alone.
func TestPeriodicCleanup(t *testing.T) {
	log := &servertest.LogBuffer{}
	servertest.Each(t, servertest.Options{Log: log, Env: []string{
		"DATABASE_CLEANUP_INTERVAL=1s", "DATABASE_CLEANUP_OLDER_THAN=0s",
	}}, func(t *testing.T, srv *servertest.Server) {
		srv.MustCreateIdentity(t, "cleanup@example.test", "correct horse battery")
		srv.MustNativeLogin(t, "cleanup@example.test", "correct horse battery")
		// The first session and its login flow expire...
		srv.Clock.Advance(srv.Config.Session.Lifespan + time.Minute)
		// ...this second pair is live.
		token := srv.MustNativeLogin(t, "cleanup@example.test", "correct horse battery")

		deadline := time.Now().Add(60 * time.Second)
		for srv.CountRows(t, "sessions") != 1 || srv.CountRows(t, "selfservice_flows") != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("after 60s: %d sessions, %d flows; log:\n%s",
					srv.CountRows(t, "sessions"), srv.CountRows(t, "selfservice_flows"), log)
			}
			time.Sleep(50 * time.Millisecond)
		}
		res, _ := servertest.Do(t, srv.HTTPClient(false), "GET", srv.Public.URL+"/sessions/whoami", nil,
			http.Header{"X-Session-Token": {token}})
		if res.StatusCode != http.StatusOK {
			t.Errorf("whoami with the live session: %d", res.StatusCode)
		}
		if !strings.Contains(log.String(), `msg="database cleanup"`) {
			t.Errorf("no cleanup log line:\n%s", log)
		}
	})
}
