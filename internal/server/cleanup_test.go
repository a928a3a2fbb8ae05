package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// cleanupLogLine is the log line of a periodic cleanup that deleted one
// expired session (and its login flow) and audit events older than
// audit.retention.
var cleanupLogLine = regexp.MustCompile(`msg="database cleanup" .*selfservice_flows=1 .*sessions=1 .*audit_events=[1-9]`)

// TestPeriodicCleanup: serve deletes expired flows and sessions by itself
// (database.cleanup.enabled is on by default), leaves live ones alone, and
// reports it in the log and the metrics.
func TestPeriodicCleanup(t *testing.T) {
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		log := &servertest.LogBuffer{}
		srv := servertest.Start(t, servertest.Options{Dialect: d, Log: log, Env: []string{
			"DATABASE_CLEANUP_INTERVAL=1s", "DATABASE_CLEANUP_OLDER_THAN=0s", "AUDIT_RETENTION=24h",
		}})
		srv.MustCreateIdentity(t, "cleanup@example.test", "correct horse battery")
		srv.MustNativeLogin(t, "cleanup@example.test", "correct horse battery")
		// The first session and its login flow expire...
		srv.Clock.Advance(srv.Config.Session.Lifespan + time.Minute)
		// ...this second pair is live.
		token := srv.MustNativeLogin(t, "cleanup@example.test", "correct horse battery")
		// An audit event older than audit.retention (a day here) goes, a
		// recent one stays (the journey above may record events too).
		rec := &audit.Recorder{Store: sqlstore.NewAuditStore(srv.DB)}
		subject := uuid.New()
		for _, age := range []time.Duration{26 * time.Hour, time.Hour} {
			if err := rec.Record(context.Background(), audit.Event{Type: audit.PasswordChanged, IdentityID: &subject, Time: srv.Clock.Now().Add(-age)}); err != nil {
				t.Fatal(err)
			}
		}

		deadline := time.Now().Add(60 * time.Second)
		for !cleanupLogLine.MatchString(log.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("no cleanup after 60s; log:\n%s", log)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if s, f := srv.CountRows(t, "sessions"), srv.CountRows(t, "selfservice_flows"); s != 1 || f != 1 {
			t.Errorf("%d sessions and %d flows left, want the live one of each", s, f)
		}
		if events := srv.AuditEvents(t, subject.String()); len(events) != 1 || srv.Clock.Now().Sub(events[0].Time) > 2*time.Hour {
			t.Errorf("audit events left: %v, want the recent one", events)
		}
		res, _ := servertest.Do(t, srv.HTTPClient(false), "GET", srv.Public.URL+"/sessions/whoami", nil,
			http.Header{"X-Session-Token": {token}})
		if res.StatusCode != http.StatusOK {
			t.Errorf("whoami with the live session: %d", res.StatusCode)
		}
		_, body := servertest.DoRaw(t, srv.HTTPClient(false), "GET", srv.Admin.URL+"/metrics/prometheus", nil, nil)
		metrics := string(body)
		for _, series := range []string{
			`latchkey_cleanup_deleted_rows_total{table="sessions"} 1`,
			`latchkey_cleanup_deleted_rows_total{table="selfservice_flows"} 1`,
			`latchkey_cleanup_deleted_rows_total{table="courier_messages"} 0`,
		} {
			if !strings.Contains(metrics, series) {
				t.Errorf("/metrics/prometheus lacks %q", series)
			}
		}
		if !regexp.MustCompile(`(?m)^latchkey_cleanup_deleted_rows_total\{table="audit_events"\} [1-9]`).MatchString(metrics) {
			t.Errorf("/metrics/prometheus counts no deleted audit events:\n%s", metrics)
		}
		if regexp.MustCompile(`(?m)^latchkey_cleanup_last_success_timestamp_seconds 0$`).MatchString(metrics) ||
			!strings.Contains(metrics, "latchkey_cleanup_last_success_timestamp_seconds ") {
			t.Errorf("no last success time:\n%s", metrics)
		}
	})
}
