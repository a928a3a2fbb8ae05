package recovery_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

var (
	uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timePattern = regexp.MustCompile(`"\d{4}-\d\d-\d\dT[^"]+"`)
)

// normalise blanks what differs between two flows anyway: ids, times and
// the typed address.
func normalise(body []byte, email string) string {
	s := strings.ReplaceAll(string(body), email, "EMAIL")
	s = uuidPattern.ReplaceAllString(s, "ID")
	return timePattern.ReplaceAllString(s, `"TIME"`)
}

// TestNoEnumeration: a known and an unknown address get the same status,
// body, state and message, and only the known one gets mail (unless
// notify_unknown_recipients is on).
func TestNoEnumeration(t *testing.T) {
	for _, mode := range []struct {
		name   string
		opts   [][]string
		notify bool
	}{{"default", nil, false}, {"notify", [][]string{withNotify}, true}, {"link", [][]string{withLink}, false}} {
		t.Run(mode.name, func(t *testing.T) {
			servertest.Each(t, options(mode.opts...), func(t *testing.T, srv *servertest.Server) {
				known, unknown := uniqueEmail("known"), uniqueEmail("unknown")
				mustIdentity(t, srv, known)
				submit := func(email string) (int, string) {
					id := newNativeFlow(t, srv)
					res, b := do(t, nil, "POST", srv.Public.URL+"/self-service/recovery?flow="+id, map[string]string{"Content-Type": "application/json"},
						`{"method":"`+srv.Config.SelfService.Flows.Recovery.Use+`","email":"`+strings.ToUpper(email[:1])+email[1:]+`"}`)
					return res.StatusCode, normalise(b, strings.ToUpper(email[:1])+email[1:])
				}
				s1, b1 := submit(known)
				s2, b2 := submit(unknown)
				if s1 != 200 || s1 != s2 || b1 != b2 {
					t.Fatalf("known: %d %s\nunknown: %d %s", s1, b1, s2, b2)
				}
				var f map[string]any
				_ = json.Unmarshal([]byte(b1), &f)
				if f["state"] != "sent_email" {
					t.Fatalf("state = %v", f["state"])
				}
				// The lookup ignored case: the known address got its mail.
				m := srv.SMTP.WaitFor(t, known, 10*time.Second)
				if mode.notify {
					inv := srv.SMTP.WaitFor(t, strings.ToUpper(unknown[:1])+unknown[1:], 10*time.Second)
					if inv.Subject != "Account access attempted" {
						t.Fatalf("unknown recipient mail: %q", inv.Subject)
					}
				} else {
					waitPrepared(t, srv)
					if n := len(queuedTo(t, srv, unknown)) + len(queuedTo(t, srv, strings.ToUpper(unknown[:1])+unknown[1:])); n != 0 {
						t.Fatalf("%d mails queued for the unknown address", n)
					}
				}
				_ = m
			})
		})
	}
}

// TestSendLimits: the N+1th email to one address within the window is
// 429 with Retry-After and a UI message; another address is unaffected;
// the count is shared by every instance on the database.
func TestSendLimits(t *testing.T) {
	limit := []string{"SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_ADDRESS_MAX=3", "SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_IP_MAX=5"}
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		h1, logs1 := startLogged(t, d, limit)
		// A second instance on the same database.
		logs2 := &servertest.LogBuffer{}
		opts := options(limit)
		opts.Log = logs2
		h2 := h1.StartSharingDB(t, opts)
		victim, other := uniqueEmail("victim"), uniqueEmail("other")
		mustIdentity(t, h1, victim)
		// Each client connects from its own loopback address, which is
		// the address the per-IP limit counts.
		send := func(srv *servertest.Server, email, ip string) (int, map[string]any, string) {
			id := newNativeFlow(t, srv)
			res, body := postJSON(t, srv, srv.HTTPClientFrom(ip, false), id, `{"method":"code","email":"`+email+`"}`, nil)
			return res.StatusCode, body, res.Header.Get("Retry-After")
		}
		for i, srv := range []*servertest.Server{h1, h2, h1} {
			if s, b, _ := send(srv, victim, "127.0.0.11"); s != 200 {
				t.Fatalf("send %d: %d %v", i+1, s, b)
			}
		}
		s, body, retry := send(h2, strings.ToUpper(victim), "127.0.0.12")
		if s != 429 || retry == "" || retry == "0" || dig(body, "ui", "messages", 0, "id") != float64(4060100) || dig(body, "state") != "choose_method" {
			t.Fatalf("4th send: %d %q %v", s, retry, body)
		}
		if s, b, _ := send(h1, other, "127.0.0.13"); s != 200 {
			t.Fatalf("other address: %d %v", s, b)
		}
		// Per IP: 5 per window from one client, whatever the address.
		for i := 0; i < 5; i++ {
			if s, b, _ := send(h1, uniqueEmail("ip"), "127.0.0.20"); s != 200 {
				t.Fatalf("ip send %d: %d %v", i+1, s, b)
			}
		}
		if s, _, retry := send(h2, uniqueEmail("ip"), "127.0.0.20"); s != 429 || retry == "" {
			t.Fatalf("6th from one IP: %d %q", s, retry)
		}
		// A browser form is sent back to the UI, where the flow shows the message.
		hc := h1.HTTPClientFrom("127.0.0.30", true)
		api := h1.SDKWith(hc)
		f, _, _ := api.FrontendAPI.CreateBrowserRecoveryFlow(context.Background()).Execute()
		res, _ := do(t, hc, "POST", h1.Public.URL+"/self-service/recovery?flow="+f.Id, map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			"method=code&email="+victim+"&csrf_token="+urlQuery(csrfOf(f)))
		if res.StatusCode != 303 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("form: %d", res.StatusCode)
		}
		f2, _, err := api.FrontendAPI.GetRecoveryFlow(context.Background()).Id(f.Id).Execute()
		if err != nil || messageIDs(f2)[0] != 4060100 {
			t.Fatalf("flow after limit: %v %+v", err, f2)
		}
		// After the window the address may receive mail again.
		h1.Clock.Advance(time.Hour)
		if s, b, _ := send(h1, victim, "127.0.0.14"); s != 200 {
			t.Fatalf("next window: %d %v", s, b)
		}
		if !strings.Contains(logs1.String()+logs2.String(), `"msg":"recovery send limit hit"`) {
			t.Error("limit hit not logged")
		}
	})
}

// TestEvents: each step is logged with the flow id, never with the code,
// the token or the address.
func TestEvents(t *testing.T) {
	srv, buf := startLogged(t, sqlstore.SQLite)
	email := uniqueEmail("events")
	ident := mustIdentity(t, srv, email)
	id, code := sentNativeFlow(t, srv, email)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	postJSON(t, srv, nil, id, `{"method":"code","code":"`+wrong+`"}`, nil)
	postJSON(t, srv, nil, id, `{"method":"code","code":"`+code+`"}`, nil)
	logs := buf.String()
	for _, event := range []string{"recovery flow created", "recovery code sent", "recovery code wrong", "recovery succeeded"} {
		if !strings.Contains(logs, `"msg":"`+event+`"`) {
			t.Errorf("no %q event", event)
		}
	}
	if !strings.Contains(logs, `"flow_id":"`+id+`"`) || !strings.Contains(logs, `"identity_id":"`+ident.Id+`"`) {
		t.Error("events lack flow or identity id")
	}
	if strings.Contains(logs, `"`+code+`"`) || strings.Contains(logs, code+" ") || strings.Contains(strings.ToLower(logs), strings.ToLower(email)) {
		t.Errorf("a code or address leaked into the log:\n%s", logs)
	}
}
