package audit_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// listed is one answer of GET /admin/audit/events.
type listed struct {
	status int
	header http.Header
	raw    []byte
	events []audit.Event
}

// list sends GET path (with its query) to the admin port.
func list(t *testing.T, srv *servertest.Server, path string) listed {
	t.Helper()
	res, raw := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodGet, srv.Admin.URL+path, nil, nil)
	l := listed{status: res.StatusCode, header: res.Header, raw: raw}
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &l.events); err != nil {
			t.Fatalf("GET %s: not a list of events: %s", path, raw)
		}
	}
	return l
}

// ids are the events' ids, in order.
func ids(events []audit.Event) []uuid.UUID {
	out := make([]uuid.UUID, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// nextLink is the target of the Link header's rel="next", "" on the last page.
func nextLink(t *testing.T, link string) string {
	t.Helper()
	for _, part := range strings.Split(link, ",") {
		target, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(params) == `rel="next"` {
			return strings.Trim(strings.TrimSpace(target), "<>")
		}
	}
	return ""
}

// metric is the value of latchkey_audit_events_total{type,result} on the
// admin port's /metrics/prometheus (0 when the series is absent).
func metric(t *testing.T, srv *servertest.Server, typ audit.Type, result string) int {
	t.Helper()
	_, raw := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodGet, srv.Admin.URL+"/metrics/prometheus", nil, nil)
	re := regexp.MustCompile(`(?m)^latchkey_audit_events_total\{result="` + regexp.QuoteMeta(result) + `",type="` + regexp.QuoteMeta(string(typ)) + `"\} (\d+)$`)
	m := re.FindSubmatch(raw)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// adminCode asks for an admin recovery code of an API flow, with a reason.
func adminCode(t *testing.T, srv *servertest.Server, identityID, reason string) (flowID, code string) {
	t.Helper()
	res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Admin.URL+"/admin/recovery/code",
		map[string]any{"identity_id": identityID, "flow_type": "api", "reason": reason}, http.Header{"User-Agent": {"audit-test/1.0"}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("admin recovery code: %d %v", res.StatusCode, body)
	}
	link, _ := url.Parse(body["recovery_link"].(string))
	return link.Query().Get("flow"), body["recovery_code"].(string)
}

// TestAuditEventsAPI drives GET /admin/audit/events over HTTP on every
// database: the wire shape, each filter, pages linked by the Link header,
// a 400 naming each bad parameter, and the metric of committed events.
func TestAuditEventsAPI(t *testing.T) {
	servertest.Each(t, servertest.Options{NoSMTP: true}, func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()

		t.Run("EmptyLogIsAnEmptyArray", func(t *testing.T) {
			l := list(t, srv, "/admin/audit/events")
			if l.status != http.StatusOK || string(l.raw) != "[]\n" {
				t.Fatalf("= %d %q", l.status, l.raw)
			}
			if got := l.header.Get("Link"); got != `</admin/audit/events?page_size=250>; rel="first"` {
				t.Errorf("Link = %q", got)
			}
			if cc := l.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control = %q", cc)
			}
		})

		alice := srv.MustCreateIdentity(t, "alice@audit.test", "correct horse battery staple").Id
		bob := uuid.MustParse(srv.MustCreateIdentity(t, "bob@audit.test", "correct horse battery staple").Id)

		t.Run("AdminRecoveryCodeShowsItsReasonAndNoSecret", func(t *testing.T) {
			flowID, code := adminCode(t, srv, alice, "ticket 42")
			l := list(t, srv, "/admin/audit/events?identity_id="+alice)
			if l.status != http.StatusOK || len(l.events) != 1 {
				t.Fatalf("= %d %s", l.status, l.raw)
			}
			var raw []json.RawMessage
			if err := json.Unmarshal(l.raw, &raw); err != nil {
				t.Fatal(err)
			}
			want := []string{"id", "time", "type", "identity_id", "actor", "flow_id", "method", "client_ip", "user_agent", "result", "reason", "details"}
			if keys := servertest.Keys(t, raw[0]); !slices.Equal(keys, want) {
				t.Errorf("keys = %v, want %v", keys, want)
			}
			var e map[string]any
			if err := json.Unmarshal(raw[0], &e); err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string]any{
				"type": "admin.recovery_code_created", "identity_id": alice, "actor": "admin", "flow_id": flowID,
				"method": "code", "client_ip": "127.0.0.1", "user_agent": "audit-test/1.0", "result": "success", "reason": "ticket 42",
			} {
				if e[k] != v {
					t.Errorf("%s = %v, want %v", k, e[k], v)
				}
			}
			if d, _ := e["details"].(map[string]any); d["flow_type"] != "api" || d["sent"] != false {
				t.Errorf("details = %v", e["details"])
			}
			at, err := time.Parse(time.RFC3339Nano, e["time"].(string))
			if err != nil || !strings.HasSuffix(e["time"].(string), "Z") || at.Sub(srv.Clock.Now()).Abs() > time.Minute {
				t.Errorf("time = %v (%v)", e["time"], err)
			}
			if strings.Contains(string(l.raw), code) {
				t.Errorf("the recovery code is in the audit log: %s", l.raw)
			}
		})

		// Bob's events at known times, an hour apart, and one that names
		// no identity.
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		rec := &audit.Recorder{Store: sqlstore.NewAuditStore(srv.DB)}
		seeded := []audit.Type{audit.PasswordChanged, audit.LoginSucceeded, audit.LoginFailed, audit.SessionRevoked, audit.PasswordChanged}
		for i, typ := range seeded {
			result := audit.ResultSuccess
			if typ == audit.LoginFailed {
				result = "invalid_credentials"
			}
			if err := rec.Record(ctx, audit.Event{Type: typ, IdentityID: &bob, Time: base.Add(time.Duration(i) * time.Hour), Method: "password", Result: result}); err != nil {
				t.Fatal(err)
			}
		}
		if err := rec.Record(ctx, audit.Event{Type: audit.RecoveryRequested, Time: base, Method: "code"}); err != nil {
			t.Fatal(err)
		}
		all := list(t, srv, "/admin/audit/events")
		if all.status != http.StatusOK || len(all.events) != 7 {
			t.Fatalf("all events = %d %s", all.status, all.raw)
		}

		t.Run("UnknownIdentityAndFlowAreNullNoDetailsAreAnObject", func(t *testing.T) {
			var raw []map[string]any
			if err := json.Unmarshal(all.raw, &raw); err != nil {
				t.Fatal(err)
			}
			last := raw[len(raw)-1]
			if v, ok := last["identity_id"]; !ok || v != nil || last["type"] != "recovery.requested" {
				t.Errorf("identity_id = %v (%v) in %v", v, ok, last)
			}
			if v, ok := last["flow_id"]; !ok || v != nil {
				t.Errorf("flow_id = %v (%v)", v, ok)
			}
			if d, ok := last["details"].(map[string]any); !ok || len(d) != 0 {
				t.Errorf("details = %#v, want {}", last["details"])
			}
			if last["actor"] != "system" {
				t.Errorf("actor = %v, want system (recorded outside a request)", last["actor"])
			}
		})

		t.Run("FilterByIdentity", func(t *testing.T) {
			l := list(t, srv, "/admin/audit/events?identity_id="+bob.String())
			if got := servertest.AuditTypes(l.events); l.status != http.StatusOK || !slices.Equal(got, seeded) {
				t.Fatalf("= %d %v, want %v", l.status, got, seeded)
			}
			if l := list(t, srv, "/admin/audit/events?identity_id="+uuid.NewString()); l.status != http.StatusOK || string(l.raw) != "[]\n" {
				t.Errorf("unknown identity = %d %s", l.status, l.raw)
			}
		})

		t.Run("FilterByTypeRepeatedAndCommaSeparated", func(t *testing.T) {
			want := []audit.Type{audit.PasswordChanged, audit.LoginFailed, audit.PasswordChanged, audit.RecoveryRequested}
			for _, q := range []string{
				"type=password.changed&type=login.failed&type=recovery.requested",
				"type=password.changed,login.failed,recovery.requested",
				"type=password.changed,login.failed&type=recovery.requested,password.changed",
			} {
				l := list(t, srv, "/admin/audit/events?"+q)
				if got := servertest.AuditTypes(l.events); l.status != http.StatusOK || !slices.Equal(got, want) {
					t.Errorf("%s = %d %v, want %v", q, l.status, got, want)
				}
			}
			l := list(t, srv, "/admin/audit/events?identity_id="+bob.String()+"&type=login.failed")
			if len(l.events) != 1 || l.events[0].Result != "invalid_credentials" || *l.events[0].IdentityID != bob {
				t.Errorf("bob's failed login = %s", l.raw)
			}
		})

		t.Run("FilterByTimeSinceInclusiveUntilExclusive", func(t *testing.T) {
			q := url.Values{
				"identity_id": {bob.String()},
				"since":       {base.Add(time.Hour).Format(time.RFC3339)},
				"until":       {base.Add(3 * time.Hour).Format(time.RFC3339)},
			}
			l := list(t, srv, "/admin/audit/events?"+q.Encode())
			if got := servertest.AuditTypes(l.events); l.status != http.StatusOK || !slices.Equal(got, seeded[1:3]) {
				t.Fatalf("= %d %v, want %v", l.status, got, seeded[1:3])
			}
			// The same bounds with an offset, its "+" left unencoded.
			since := base.Add(time.Hour).In(time.FixedZone("", 2*3600)).Format(time.RFC3339)
			l = list(t, srv, "/admin/audit/events?identity_id="+bob.String()+"&since="+since+"&until="+base.Add(3*time.Hour).Format(time.RFC3339))
			if got := servertest.AuditTypes(l.events); l.status != http.StatusOK || !slices.Equal(got, seeded[1:3]) {
				t.Fatalf("since %s = %d %v", since, l.status, got)
			}
			if !l.events[0].Time.Equal(base.Add(time.Hour)) {
				t.Errorf("time = %v, want %v", l.events[0].Time, base.Add(time.Hour))
			}
		})

		t.Run("PagesFollowTheLinkHeader", func(t *testing.T) {
			path := "/admin/audit/events?identity_id=" + bob.String() + "&page_size=2"
			var got []audit.Event
			pages := 0
			for path != "" {
				l := list(t, srv, path)
				if l.status != http.StatusOK {
					t.Fatalf("%s = %d %s", path, l.status, l.raw)
				}
				pages++
				first := `</admin/audit/events?identity_id=` + bob.String() + `&page_size=2>; rel="first"`
				if link := l.header.Get("Link"); !strings.HasPrefix(link, first) {
					t.Errorf("Link = %q, want it to start with %q", link, first)
				}
				got = append(got, l.events...)
				path = nextLink(t, l.header.Get("Link"))
				if path != "" && len(l.events) != 2 {
					t.Errorf("a page of %d before the last", len(l.events))
				}
			}
			want := list(t, srv, "/admin/audit/events?identity_id="+bob.String()).events
			if pages != 3 || !slices.Equal(ids(got), ids(want)) {
				t.Errorf("%d pages of %v, want 3 pages of %v", pages, ids(got), ids(want))
			}
		})

		t.Run("PageSizeAboveTheMaximumIsCapped", func(t *testing.T) {
			l := list(t, srv, "/admin/audit/events?page_size=5000")
			if l.status != http.StatusOK || len(l.events) != 7 {
				t.Fatalf("= %d %s", l.status, l.raw)
			}
		})

		t.Run("BadParameters", func(t *testing.T) {
			notAUUID := base64.RawURLEncoding.EncodeToString([]byte("not-a-uuid"))
			for _, c := range []struct{ query, param string }{
				{"identity_id=alice", "identity_id"},
				{"type=password.reset", "type"},
				{"type=login.succeeded,LOGIN.FAILED", "type"},
				{"since=yesterday", "since"},
				{"since=2026-03-01", "since"},
				{"until=2026-03-01T12:00:00", "until"},
				{"since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "until"},
				{"page_size=0", "page_size"},
				{"page_size=-3", "page_size"},
				{"page_size=ten", "page_size"},
				{"page_token=!!!", "page_token"},
				{"page_token=" + notAUUID, "page_token"},
			} {
				res, body := servertest.Do(t, srv.HTTPClient(false), http.MethodGet, srv.Admin.URL+"/admin/audit/events?"+c.query, nil, nil)
				e, _ := body["error"].(map[string]any)
				details, _ := e["details"].(map[string]any)
				reason, _ := e["reason"].(string)
				if res.StatusCode != http.StatusBadRequest || e["code"] != float64(400) || details["parameter"] != c.param || !strings.Contains(reason, c.param) {
					t.Errorf("%s = %d %v, want a 400 naming %s", c.query, res.StatusCode, body, c.param)
				}
			}
		})

		t.Run("MetricCountsCommittedEventsOnly", func(t *testing.T) {
			created := metric(t, srv, audit.AdminRecoveryCodeCreated, audit.ResultSuccess)
			if created < 1 {
				t.Fatalf("admin.recovery_code_created = %d after one admin code", created)
			}
			flowID, code := adminCode(t, srv, alice, "")
			if n := metric(t, srv, audit.AdminRecoveryCodeCreated, audit.ResultSuccess); n != created+1 {
				t.Errorf("admin.recovery_code_created = %d after one more, want %d", n, created+1)
			}
			submit := func() int {
				res, _ := servertest.Do(t, srv.HTTPClient(false), http.MethodPost, srv.Public.URL+"/self-service/recovery?flow="+flowID,
					map[string]any{"method": "code", "code": code}, http.Header{"Accept": {"application/json"}})
				return res.StatusCode
			}
			succeeded := func() []audit.Event {
				return list(t, srv, "/admin/audit/events?type=recovery.succeeded&identity_id="+alice).events
			}
			// The recovery records its event, then fails: both roll back.
			lift := srv.FailRecoveryCompletion(t)
			status := submit()
			lift()
			if status != http.StatusInternalServerError {
				t.Fatalf("recovery under the fault = %d", status)
			}
			if n := metric(t, srv, audit.RecoverySucceeded, audit.ResultSuccess); n != 0 || len(succeeded()) != 0 {
				t.Fatalf("a rolled-back recovery: metric %d, %d events", n, len(succeeded()))
			}
			if status := submit(); status != http.StatusOK {
				t.Fatalf("recovery = %d", status)
			}
			if n := metric(t, srv, audit.RecoverySucceeded, audit.ResultSuccess); n != 1 || len(succeeded()) != 1 {
				t.Fatalf("a committed recovery: metric %d, %d events", n, len(succeeded()))
			}
		})
	})
}
