package login_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// throttleEnv keeps the default per-identifier budget (10 per 15
// minutes) and lowers the per-IP one so a test can spend it.
var throttleEnv = []string{"SELFSERVICE_FLOWS_LOGIN_RATE_LIMIT_PER_IP_MAX=15"}

// attempt is one answered native login.
type attempt struct {
	status     int
	retryAfter string
	body       map[string]any
}

// messageIDs are the flow-level message ids of a login answer.
func (a attempt) messageIDs() []float64 {
	ui, _ := a.body["ui"].(map[string]any)
	msgs, _ := ui["messages"].([]any)
	var ids []float64
	for _, m := range msgs {
		ids = append(ids, m.(map[string]any)["id"].(float64))
	}
	return ids
}

// nativeLogin submits identifier and password in a new native flow, from
// the loopback address ip.
func nativeLogin(t *testing.T, srv *servertest.Server, ip, identifier, password string) attempt {
	t.Helper()
	c := srv.HTTPClientFrom(ip, false)
	res, f := servertest.Do(t, c, "GET", srv.Config.PublicURL("self-service/login/api"), nil, nil)
	if res.StatusCode != 200 {
		t.Fatalf("init: %d %v", res.StatusCode, f)
	}
	res, body := servertest.Do(t, c, "POST", srv.Config.PublicURL("self-service/login?flow="+f["id"].(string)),
		map[string]any{"method": "password", "identifier": identifier, "password": password}, nil)
	return attempt{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), body: body}
}

// mustFail asserts n wrong-password answers (400, invalid credentials).
func mustFail(t *testing.T, srv *servertest.Server, ip, identifier string, n int) {
	t.Helper()
	for i := range n {
		if a := nativeLogin(t, srv, ip, identifier, "wrong-password-"+strconv.Itoa(i)); a.status != 400 || !reflect.DeepEqual(a.messageIDs(), []float64{4000006}) {
			t.Fatalf("wrong password %d for %s: %d %v", i+1, identifier, a.status, a.body)
		}
	}
}

// mustBeThrottled asserts the 429 answer: Retry-After in whole seconds
// within the window, the flow with message 4010100 and no session.
func mustBeThrottled(t *testing.T, a attempt, window time.Duration) {
	t.Helper()
	secs, err := strconv.Atoi(a.retryAfter)
	if a.status != 429 || err != nil || secs < 1 || secs > int(window.Seconds()) {
		t.Fatalf("want 429 with Retry-After: %d %q %v", a.status, a.retryAfter, a.body)
	}
	if !reflect.DeepEqual(a.messageIDs(), []float64{4010100}) || a.body["state"] != "choose_method" || a.body["session"] != nil {
		t.Fatalf("throttled flow: %v", a.body)
	}
	msg := a.body["ui"].(map[string]any)["messages"].([]any)[0].(map[string]any)
	if msg["type"] != "error" || !strings.HasPrefix(msg["text"].(string), "Too many failed sign-in attempts.") ||
		msg["context"].(map[string]any)["retry_after_seconds"] != float64(secs) {
		t.Fatalf("message %v", msg)
	}
}

func TestLoginThrottle(t *testing.T) {
	const window = 15 * time.Minute
	servertest.Each(t, servertest.EntryOptions(throttleEnv...), func(t *testing.T, srv *servertest.Server) {
		for _, who := range []string{"alice", "bob", "carol", "dave", "erin"} {
			srv.MustCreateIdentity(t, who+"@example.test", pw)
		}
		sessionsOf := func(email string) int {
			var n int
			if err := srv.DB.QueryRow(t.Context(), `SELECT COUNT(*) FROM sessions s JOIN identity_credential_identifiers i ON i.identity_id = s.identity_id WHERE i.identifier = ?`, email).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		t.Run("EleventhAttemptIsRefusedEvenWithTheRightPassword", func(t *testing.T) {
			mustFail(t, srv, "127.0.0.11", "alice@example.test", 10)
			// The budget is the identifier's, typed in any case, from any client.
			mustBeThrottled(t, nativeLogin(t, srv, "127.0.0.12", " Alice@Example.TEST ", pw), window)
			if n := sessionsOf("alice@example.test"); n != 0 {
				t.Fatalf("%d sessions issued past the budget", n)
			}
		})

		t.Run("AnotherIdentifierFromAnotherIPStillWorks", func(t *testing.T) {
			if a := nativeLogin(t, srv, "127.0.0.13", "bob@example.test", pw); a.status != 200 {
				t.Fatalf("bob: %d %v", a.status, a.body)
			}
		})

		t.Run("UnknownIdentifiersAreCountedTheSame", func(t *testing.T) {
			mustFail(t, srv, "127.0.0.14", "nobody@example.test", 10)
			unknown := nativeLogin(t, srv, "127.0.0.14", "nobody@example.test", pw)
			mustBeThrottled(t, unknown, window)
			known := nativeLogin(t, srv, "127.0.0.14", "alice@example.test", pw)
			mustBeThrottled(t, known, window)
			if !reflect.DeepEqual(flowShape(unknown.body), flowShape(known.body)) {
				t.Fatalf("known and unknown identifiers are told apart:\n%v\n%v", flowShape(known.body), flowShape(unknown.body))
			}
		})

		t.Run("PerIPBudgetTripsAcrossIdentifiersAndSuccessDoesNotResetIt", func(t *testing.T) {
			for i := range 14 {
				mustFail(t, srv, "127.0.0.15", fmt.Sprintf("spray-%d@example.test", i), 1)
			}
			// A success neither spends nor refills the IP's budget.
			if a := nativeLogin(t, srv, "127.0.0.15", "carol@example.test", pw); a.status != 200 {
				t.Fatalf("carol within budget: %d %v", a.status, a.body)
			}
			mustFail(t, srv, "127.0.0.15", "spray-14@example.test", 1)
			mustBeThrottled(t, nativeLogin(t, srv, "127.0.0.15", "carol@example.test", pw), window)
			if a := nativeLogin(t, srv, "127.0.0.16", "carol@example.test", pw); a.status != 200 {
				t.Fatalf("carol from another IP: %d %v", a.status, a.body)
			}
		})

		t.Run("SuccessResetsTheIdentifierBudget", func(t *testing.T) {
			mustFail(t, srv, "127.0.0.17", "dave@example.test", 9)
			if a := nativeLogin(t, srv, "127.0.0.17", "dave@example.test", pw); a.status != 200 {
				t.Fatalf("dave: %d %v", a.status, a.body)
			}
			mustFail(t, srv, "127.0.0.18", "dave@example.test", 10)
			mustBeThrottled(t, nativeLogin(t, srv, "127.0.0.18", "dave@example.test", pw), window)
		})

		t.Run("ConcurrentGuessesCannotOvershoot", func(t *testing.T) {
			const guesses = 25
			flows := make([]string, guesses)
			for i := range flows {
				_, f := servertest.Do(t, srv.HTTPClient(false), "GET", srv.Config.PublicURL("self-service/login/api"), nil, nil)
				flows[i] = f["id"].(string)
			}
			statuses := make(chan int, guesses)
			var wg sync.WaitGroup
			for i, id := range flows {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Five clients, so only the identifier's budget binds.
					c := srv.HTTPClientFrom(fmt.Sprintf("127.0.1.%d", i%5+1), false)
					body, _ := json.Marshal(map[string]string{"method": "password", "identifier": "erin@example.test", "password": "wrong"})
					res, err := c.Post(srv.Config.PublicURL("self-service/login?flow="+id), "application/json", bytes.NewReader(body))
					if err != nil {
						t.Error(err)
						return
					}
					res.Body.Close()
					statuses <- res.StatusCode
				}()
			}
			wg.Wait()
			close(statuses)
			count := map[int]int{}
			for s := range statuses {
				count[s]++
			}
			if count[400] != 10 || count[429] != guesses-10 {
				t.Fatalf("answers %v: want exactly 10 checked (400), the rest refused (429)", count)
			}
		})

		t.Run("BrowserFormIsSentBackToTheUIShowingTheMessage", func(t *testing.T) {
			b := srv.HTTPClientFrom("127.0.0.19", true)
			id, csrf := startFormFlow(t, srv, b, "")
			res, _ := servertest.Do(t, b, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"alice@example.test"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			if res.StatusCode != 303 || res.Header.Get("Location") != servertest.EntryLoginUI+"?flow="+id || res.Header.Get("Retry-After") == "" {
				t.Fatalf("form: %d %q %q", res.StatusCode, res.Header.Get("Location"), res.Header.Get("Retry-After"))
			}
			_, f := servertest.Do(t, b, "GET", srv.Config.PublicURL("self-service/login/flows?id="+id), nil, nil)
			if ids := (attempt{body: f}).messageIDs(); !reflect.DeepEqual(ids, []float64{4010100}) {
				t.Fatalf("flow after refusal: %v", f)
			}
			// An SPA gets the flow itself with 429.
			res, spa := servertest.Do(t, b, "POST", srv.Config.PublicURL("self-service/login?flow="+id),
				map[string]any{"method": "password", "identifier": "alice@example.test", "password": pw, "csrf_token": csrf}, nil)
			mustBeThrottled(t, attempt{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), body: spa}, window)
		})

		t.Run("BuiltInUIShowsTheMessage", func(t *testing.T) {
			ui := servertest.Start(t, servertest.Options{NoSMTP: true, DSN: srv.Config.DSN})
			b := ui.HTTPClientFrom("127.0.0.20", true)
			res, _ := servertest.Do(t, b, "GET", ui.Config.PublicURL("self-service/login/browser"), nil, htmlAccept)
			loc, _ := url.Parse(res.Header.Get("Location"))
			id := loc.Query().Get("flow")
			_, f := servertest.Do(t, b, "GET", ui.Config.PublicURL("self-service/login/flows?id="+id), nil, nil)
			csrf := ""
			for _, n := range f["ui"].(map[string]any)["nodes"].([]any) {
				if a := n.(map[string]any)["attributes"].(map[string]any); a["name"] == "csrf_token" {
					csrf = a["value"].(string)
				}
			}
			res, _ = servertest.Do(t, b, "POST", ui.Config.PublicURL("self-service/login?flow="+id),
				url.Values{"method": {"password"}, "identifier": {"alice@example.test"}, "password": {pw}, "csrf_token": {csrf}}, htmlAccept)
			if res.StatusCode != 303 {
				t.Fatalf("form: %d", res.StatusCode)
			}
			res, page := servertest.DoRaw(t, b, "GET", res.Header.Get("Location"), nil, htmlAccept)
			if res.StatusCode != 200 || !strings.Contains(string(page), "Too many failed sign-in attempts.") {
				t.Fatalf("login page after refusal: %d\n%s", res.StatusCode, page)
			}
		})

		t.Run("AfterTheWindowLoginWorksAgain", func(t *testing.T) {
			srv.Clock.Advance(window)
			if a := nativeLogin(t, srv, "127.0.0.11", "alice@example.test", pw); a.status != 200 {
				t.Fatalf("alice after the window: %d %v", a.status, a.body)
			}
		})
	})
}

// flowShape is what a throttled answer shows, without its ids and times.
func flowShape(body map[string]any) map[string]any {
	ui := body["ui"].(map[string]any)
	var nodes []string
	for _, n := range ui["nodes"].([]any) {
		a := n.(map[string]any)["attributes"].(map[string]any)
		if a["name"] != "identifier" {
			nodes = append(nodes, fmt.Sprint(a["name"], a["type"]))
		}
	}
	return map[string]any{"keys": len(body), "state": body["state"], "messages": fmt.Sprint(ui["messages"]), "nodes": nodes}
}

func TestLoginThrottleDisabled(t *testing.T) {
	env := []string{"SELFSERVICE_FLOWS_LOGIN_RATE_LIMIT_PER_IDENTIFIER_MAX=0", "SELFSERVICE_FLOWS_LOGIN_RATE_LIMIT_PER_IP_MAX=0"}
	servertest.Each(t, servertest.EntryOptions(env...), func(t *testing.T, srv *servertest.Server) {
		srv.MustCreateIdentity(t, "frank@example.test", pw)
		mustFail(t, srv, "127.0.0.11", "frank@example.test", 12)
		if a := nativeLogin(t, srv, "127.0.0.11", "frank@example.test", pw); a.status != 200 {
			t.Fatalf("max 0 must disable the budgets: %d %v", a.status, a.body)
		}
		if n := srv.CountRows(t, "rate_limits"); n != 0 {
			t.Fatalf("%d counters kept with the limits off", n)
		}
	})
}

// TestLoginThrottleAcrossInstances: two servers on one database share
// each identifier's budget.
func TestLoginThrottleAcrossInstances(t *testing.T) {
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		opts := servertest.EntryOptions()
		opts.Dialect = d
		a := servertest.Start(t, opts)
		b := a.StartSharingDB(t, servertest.EntryOptions())
		a.MustCreateIdentity(t, "grace@example.test", pw)
		mustFail(t, a, "127.0.0.11", "grace@example.test", 5)
		mustFail(t, b, "127.0.0.12", "grace@example.test", 5)
		mustBeThrottled(t, nativeLogin(t, a, "127.0.0.13", "grace@example.test", pw), 15*time.Minute)
		mustBeThrottled(t, nativeLogin(t, b, "127.0.0.13", "grace@example.test", pw), 15*time.Minute)
	})
}
