package recovery_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

func nodeMessageID(body map[string]any, node int) any {
	return dig(body, "ui", "nodes", node, "messages", 0, "id")
}

func TestSubmitValidation(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		id := newNativeFlow(t, srv)
		for _, c := range []struct {
			name, body string
			status     int
			check      func(map[string]any) bool
		}{
			{"MalformedEmail", `{"method":"code","email":"not-an-email"}`, 400, func(b map[string]any) bool {
				return nodeMessageID(b, 1) == float64(4000040) && dig(b, "ui", "nodes", 1, "messages", 0, "context", "value") == "not-an-email"
			}},
			{"EmailWithSpaces", `{"method":"code","email":" A@EXAMPLE.TEST "}`, 400, func(b map[string]any) bool { return nodeMessageID(b, 1) == float64(4000040) }},
			{"MissingEmail", `{"method":"code"}`, 400, func(b map[string]any) bool {
				return nodeMessageID(b, 1) == float64(4000002) && dig(b, "ui", "nodes", 1, "messages", 0, "text") == "Property email is missing."
			}},
			{"MissingMethod", `{"email":"a@example.test"}`, 400, func(b map[string]any) bool {
				return dig(b, "ui", "messages", 0, "id") == float64(4010005) && b["active"] == "default"
			}},
			{"UnknownMethod", `{"method":"sms","email":"a@example.test"}`, 400, func(b map[string]any) bool { return dig(b, "ui", "messages", 0, "id") == float64(4010005) }},
			{"InvalidJSON", `{"method":`, 400, func(b map[string]any) bool {
				return dig(b, "ui", "messages", 0, "id") == float64(4000001) && dig(b, "ui", "messages", 0, "text") == "Unable to decode form as JSON."
			}},
			{"DisabledMethod", `{"method":"link","email":"a@example.test"}`, 404, func(b map[string]any) bool {
				return dig(b, "error", "reason") == "This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it."
			}},
			// Kratos made the flow the refused method's: the next answer says so.
			{"ActiveAfterDisabledMethod", `{"method":`, 400, func(b map[string]any) bool { return b["active"] == "link" }},
		} {
			t.Run(c.name, func(t *testing.T) {
				res, body := postJSON(t, srv, nil, id, c.body, nil)
				if res.StatusCode != c.status || !c.check(body) {
					t.Fatalf("%d %v", res.StatusCode, body)
				}
			})
		}
	})
}

func TestFlowIDErrors(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		for _, c := range []struct {
			query  string
			status int
			reason string
		}{
			{"", 400, "The flow query parameter is missing or malformed."},
			{"?flow=not-a-uuid", 400, "The flow query parameter is missing or malformed."},
			{"?flow=00000000-0000-0000-0000-000000000001", 404, "The recovery request could not be found. Please restart the flow."},
		} {
			res, b := do(t, nil, "POST", srv.Public.URL+"/self-service/recovery"+c.query, map[string]string{"Content-Type": "application/json"}, `{"method":"code","email":"a@example.test"}`)
			if res.StatusCode != c.status || !strings.Contains(string(b), c.reason) {
				t.Errorf("POST %q: %d %s", c.query, res.StatusCode, b)
			}
		}
		// A browser form goes to the error UI.
		res, _ := do(t, nil, "POST", srv.Public.URL+"/self-service/recovery?flow=00000000-0000-0000-0000-000000000001",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}, "method=code&email=a%40example.test")
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, errorUI+"?id=") {
			t.Fatalf("browser: %d %q", res.StatusCode, loc)
		}
		res, eb := getJSON(t, srv, nil, "/self-service/errors?id="+strings.TrimPrefix(loc, errorUI+"?id="), nil)
		if res.StatusCode != 200 || dig(eb, "error", "code") != float64(404) {
			t.Fatalf("stored error: %d %v", res.StatusCode, eb)
		}
		for _, q := range []string{"", "?id=xyz", "?id=00000000-0000-0000-0000-000000000001"} {
			res, body := getJSON(t, srv, nil, "/self-service/recovery/flows"+q, nil)
			if res.StatusCode != 404 || dig(body, "error", "message") != "Unable to locate the resource" {
				t.Errorf("GET flows%s: %d %v", q, res.StatusCode, body)
			}
		}
	})
}

func TestOversizedBody(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		id := newNativeFlow(t, srv)
		big := `{"method":"code","email":"a@example.test","transient_payload":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
		res, _ := postJSON(t, srv, nil, id, big, nil)
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

func TestExpiredFlow(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts [][]string
	}{{"continue_with", nil}, {"kratos_transitions", [][]string{withKratosTransitions}}} {
		t.Run(mode.name, func(t *testing.T) {
			servertest.Each(t, options(mode.opts...), func(t *testing.T, srv *servertest.Server) {
				email := uniqueEmail("expired")
				mustIdentity(t, srv, email)
				id, code := sentNativeFlow(t, srv, email)
				srv.Clock.Advance(srv.Config.SelfService.Flows.Recovery.Lifespan + 3*time.Second)

				res, body := getJSON(t, srv, nil, "/self-service/recovery/flows?id="+id, nil)
				if res.StatusCode != 410 || dig(body, "error", "id") != "self_service_flow_expired" || dig(body, "error", "details", "api") != srv.Public.URL+"/self-service/recovery/api" {
					t.Fatalf("GET expired api flow: %d %v", res.StatusCode, body)
				}
				res, body = postJSON(t, srv, nil, id, `{"method":"code","code":"`+code+`"}`, nil)
				var newID string
				if continueWith(srv) {
					if res.StatusCode != 410 || dig(body, "error", "id") != "self_service_flow_expired" || body["use_flow_id"] == nil ||
						dig(body, "error", "details", "continue_with", 0, "action") != "show_recovery_ui" {
						t.Fatalf("POST: %d %v", res.StatusCode, body)
					}
					newID = body["use_flow_id"].(string)
				} else {
					loc := res.Header.Get("Location")
					if res.StatusCode != 303 || !strings.HasPrefix(loc, srv.Public.URL+"/self-service/recovery/flows?id=") {
						t.Fatalf("POST: %d %q", res.StatusCode, loc)
					}
					newID = strings.TrimPrefix(loc, srv.Public.URL+"/self-service/recovery/flows?id=")
				}
				res, nf := getJSON(t, srv, nil, "/self-service/recovery/flows?id="+newID, nil)
				if res.StatusCode != 200 || dig(nf, "ui", "messages", 0, "id") != float64(4060005) || nf["type"] != "api" || nf["state"] != "choose_method" {
					t.Fatalf("new flow: %d %v", res.StatusCode, nf)
				}
			})
		})
	}
}

func TestExpiredBrowserFlow(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		api, hc := browser(srv)
		f, _, err := api.FrontendAPI.CreateBrowserRecoveryFlow(context.Background()).ReturnTo("https://app.example.com/x").Execute()
		if err != nil {
			t.Fatal(err)
		}
		srv.Clock.Advance(2 * time.Hour)
		res, body := getJSON(t, srv, hc, "/self-service/recovery/flows?id="+f.Id, nil)
		if res.StatusCode != 410 || dig(body, "error", "id") != nil ||
			dig(body, "error", "details", "redirect_to") != srv.Public.URL+"/self-service/recovery/browser?return_to=https%3A%2F%2Fapp.example.com%2Fx" ||
			dig(body, "error", "details", "return_to") != "https://app.example.com/x" {
			t.Fatalf("GET: %d %v", res.StatusCode, body)
		}
		// A form post goes to the UI with a new flow.
		res, _ = do(t, hc, "POST", srv.Public.URL+"/self-service/recovery?flow="+f.Id, map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			url.Values{"method": {"code"}, "email": {"a@example.test"}, "csrf_token": {csrfOf(f)}}.Encode())
		if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), recoveryUI+"?flow=") {
			t.Fatalf("form POST: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		// The new flow keeps the address typed, so one click sends the code.
		newID := strings.TrimPrefix(res.Header.Get("Location"), recoveryUI+"?flow=")
		res, nf := getJSON(t, srv, hc, "/self-service/recovery/flows?id="+newID, nil)
		if res.StatusCode != 200 || dig(nf, "ui", "messages", 0, "id") != float64(4060005) {
			t.Fatalf("new flow: %d %v", res.StatusCode, nf)
		}
		kept := false
		for _, n := range dig(nf, "ui", "nodes").([]any) {
			if a := n.(map[string]any)["attributes"].(map[string]any); a["name"] == "email" && a["value"] == "a@example.test" {
				kept = true
			}
		}
		if !kept {
			t.Errorf("the new flow does not keep the address typed: %v", dig(nf, "ui", "nodes"))
		}
	})
}

func TestWrongCodeAndSubmissionLimit(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts [][]string
	}{{"continue_with", nil}, {"kratos_transitions", [][]string{withKratosTransitions}}} {
		t.Run(mode.name, func(t *testing.T) {
			servertest.Each(t, options(mode.opts...), func(t *testing.T, srv *servertest.Server) {
				email := uniqueEmail("limit")
				mustIdentity(t, srv, email)
				id, code := sentNativeFlow(t, srv, email)
				for i := 1; i <= 5; i++ {
					wrong := "000000"
					if code == wrong {
						wrong = "111111"
					}
					res, body := postJSON(t, srv, nil, id, `{"method":"code","code":"`+wrong+`"}`, nil)
					if res.StatusCode != 200 || dig(body, "id") != id || dig(body, "state") != "sent_email" || dig(body, "ui", "messages", 0, "id") != float64(4060006) {
						t.Fatalf("wrong code #%d: %d %v", i, res.StatusCode, body)
					}
				}
				// The sixth submission fails even with the right code.
				res, body := postJSON(t, srv, nil, id, `{"method":"code","code":"`+code+`"}`, nil)
				var newID string
				if continueWith(srv) {
					if res.StatusCode != 400 || dig(body, "error", "reason") != "The request was submitted too often. Please request another code." {
						t.Fatalf("6th: %d %v", res.StatusCode, body)
					}
					newID = dig(body, "error", "details", "continue_with", 0, "flow", "id").(string)
				} else {
					if res.StatusCode != 303 {
						t.Fatalf("6th: %d %v", res.StatusCode, body)
					}
					newID = strings.TrimPrefix(res.Header.Get("Location"), srv.Public.URL+"/self-service/recovery/flows?id=")
				}
				res, nf := getJSON(t, srv, nil, "/self-service/recovery/flows?id="+newID, nil)
				if res.StatusCode != 200 || dig(nf, "ui", "messages", 0, "id") != float64(4000001) || dig(nf, "state") != "choose_method" {
					t.Fatalf("new flow: %d %v", res.StatusCode, nf)
				}
			})
		})
	}
}

func TestResendSupersedesCode(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("resend")
		mustIdentity(t, srv, email)
		id, first := sentNativeFlow(t, srv, email)
		if res, _ := postJSON(t, srv, nil, id, `{"method":"code","email":"`+email+`"}`, nil); res.StatusCode != 200 {
			t.Fatal("resend failed")
		}
		second := mustReadCode(t, srv, email)
		if first != second {
			res, body := postJSON(t, srv, nil, id, `{"method":"code","code":"`+first+`"}`, nil)
			if res.StatusCode != 200 || dig(body, "ui", "messages", 0, "id") != float64(4060006) {
				t.Fatalf("superseded code: %d %v", res.StatusCode, body)
			}
		}
		if res, body := postJSON(t, srv, nil, id, `{"method":"code","code":"`+second+`"}`, nil); res.StatusCode != 200 || body["state"] != "passed_challenge" {
			t.Fatalf("second code: %d %v", res.StatusCode, body)
		}
	})
}

func TestReplayedCode(t *testing.T) {
	servertest.Each(t, options(withKratosTransitions), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("replay")
		mustIdentity(t, srv, email)
		id, code := sentNativeFlow(t, srv, email)
		if res, _ := postJSON(t, srv, nil, id, `{"method":"code","code":"`+code+`"}`, nil); res.StatusCode != 422 {
			t.Fatalf("first use: %d", res.StatusCode)
		}
		res, _ := postJSON(t, srv, nil, id, `{"method":"code","code":"`+code+`"}`, nil)
		loc := res.Header.Get("Location")
		if res.StatusCode != 303 || !strings.HasPrefix(loc, srv.Public.URL+"/self-service/recovery/flows?id=") {
			t.Fatalf("replay: %d %q", res.StatusCode, loc)
		}
		// A replacement flow comes with a new CSRF cookie (recovery.md §7.6).
		if !setsCookie(res, srv.CSRFCookieName()) {
			t.Fatalf("replay: no new CSRF cookie in %v", res.Header["Set-Cookie"])
		}
		_, nf := getJSON(t, srv, nil, strings.TrimPrefix(loc, srv.Public.URL), nil)
		if dig(nf, "ui", "messages", 0, "text") != "The code was already used. Please request another code." {
			t.Fatalf("new flow: %v", nf)
		}
	})
}

func setsCookie(res *http.Response, name string) bool {
	for _, c := range res.Cookies() {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}

// TestConcurrentCodeSubmissions: of many simultaneous submissions of one
// correct code, exactly one recovers the account.
func TestConcurrentCodeSubmissions(t *testing.T) {
	servertest.Each(t, options([]string{"SELFSERVICE_METHODS_CODE_CONFIG_MAX_SUBMISSIONS=255"}), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("race")
		mustIdentity(t, srv, email)
		id, code := sentNativeFlow(t, srv, email)
		const n = 8
		var wg sync.WaitGroup
		statuses := make(chan int, n)
		states := make(chan any, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, body := postJSON(t, srv, nil, id, `{"method":"code","code":"`+code+`"}`, nil)
				statuses <- res.StatusCode
				states <- body["state"]
			}()
		}
		wg.Wait()
		close(statuses)
		close(states)
		won := 0
		for s := range states {
			if s == "passed_challenge" {
				won++
			}
		}
		if won != 1 {
			var all []int
			for s := range statuses {
				all = append(all, s)
			}
			t.Fatalf("%d submissions recovered the account (statuses %v)", won, all)
		}
	})
}

// TestCSRF: browser submissions need the csrf_token of the cookie; a
// failure does not rotate the cookie, so the user can retry (departure 6).
func TestCSRF(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("csrf")
		mustIdentity(t, srv, email)
		api, hc := browser(srv)
		f, _, err := api.FrontendAPI.CreateBrowserRecoveryFlow(context.Background()).Execute()
		if err != nil {
			t.Fatal(err)
		}
		for _, token := range []string{"", "wrong"} {
			res, body := postJSON(t, srv, hc, f.Id, `{"method":"code","email":"`+email+`","csrf_token":"`+token+`"}`, nil)
			if res.StatusCode != 403 || dig(body, "error", "id") != "security_csrf_violation" || cookieNamed(res, srv.CSRFCookieName()) != nil {
				t.Fatalf("token %q: %d %v", token, res.StatusCode, body)
			}
		}
		// Without any cookie.
		res, body := postJSON(t, srv, nil, f.Id, `{"method":"code","email":"`+email+`","csrf_token":"`+csrfOf(f)+`"}`, nil)
		if res.StatusCode != 403 || dig(body, "error", "details", "reject_reason") != "The HTTP Cookie Header is empty or not set." {
			t.Fatalf("no cookie: %d %v", res.StatusCode, body)
		}
		// A form post goes to the error UI.
		res, _ = do(t, hc, "POST", srv.Public.URL+"/self-service/recovery?flow="+f.Id, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "method=code&email="+url.QueryEscape(email))
		if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), errorUI+"?id=") {
			t.Fatalf("form: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		// The same flow still works with the right token.
		if res, body := postJSON(t, srv, hc, f.Id, `{"method":"code","email":"`+email+`","csrf_token":"`+csrfOf(f)+`"}`, nil); res.StatusCode != 200 {
			t.Fatalf("retry: %d %v", res.StatusCode, body)
		}
		// Another browser cannot read the flow.
		res, body = getJSON(t, srv, newJar(), "/self-service/recovery/flows?id="+f.Id, nil)
		if res.StatusCode != 403 {
			t.Fatalf("foreign GET: %d %v", res.StatusCode, body)
		}
		// An api flow refuses browser cookies.
		id := newNativeFlow(t, srv)
		res, body = postJSON(t, srv, nil, id, `{"method":"code","email":"`+email+`"}`, map[string]string{"Cookie": "foo=bar"})
		if continueWith(srv) && (res.StatusCode != 400 || !strings.Contains(dig(body, "error", "reason").(string), `"Cookie" key`)) {
			t.Fatalf("api flow with cookie: %d %v", res.StatusCode, body)
		}
	})
}

// TestSessionAlreadyAvailable: a caller with a session cannot start or
// submit a recovery flow.
func TestSessionAlreadyAvailable(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		email := uniqueEmail("has-session")
		mustIdentity(t, srv, email)
		token := srv.MustNativeLogin(t, email, oldPassword)
		res, body := getJSON(t, srv, nil, "/self-service/recovery/api", map[string]string{"X-Session-Token": token})
		if res.StatusCode != 400 || dig(body, "error", "id") != "session_already_available" {
			t.Fatalf("init: %d %v", res.StatusCode, body)
		}
		id := newNativeFlow(t, srv)
		res, body = postJSON(t, srv, nil, id, `{"method":"code","email":"`+email+`"}`, map[string]string{"X-Session-Token": token})
		if res.StatusCode != 400 || dig(body, "error", "id") != "session_already_available" {
			t.Fatalf("submit: %d %v", res.StatusCode, body)
		}
		// A bogus token is no session.
		if res, _ := getJSON(t, srv, nil, "/self-service/recovery/api", map[string]string{"X-Session-Token": "ory_st_bogus"}); res.StatusCode != 200 {
			t.Fatalf("bogus token: %d", res.StatusCode)
		}
	})
}
