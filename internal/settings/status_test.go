package settings_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// TestStatus pins the status code and body of every answer the spec
// lists for the settings endpoints (settings.md §2 and §5.1), per client.
func TestStatus(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db)
		ctx := context.Background()

		t.Run("NoSession", func(t *testing.T) {
			r := h.Do(http.MethodGet, "/self-service/settings/api", nil)
			wantBody(t, r, http.StatusUnauthorized, `{"error":{"id":"session_inactive","code":401,"status":"Unauthorized","reason":"This endpoint can only be accessed with a valid session. Please log in and try again.","message":"request does not have a valid authentication session"}}`)

			r = h.Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON)
			wantBody(t, r, http.StatusUnauthorized, `{"error":{"id":"session_inactive","code":401,"status":"Unauthorized","reason":"No active session was found in this request.","message":"request does not have a valid authentication session"},"CredentialsMissing":false}`)

			r = h.Do(http.MethodGet, "/self-service/settings/browser?return_to=https://app.example.com/x", nil, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusSeeOther, h.pub+"self-service/login/browser?return_to=https%3A%2F%2Fapp.example.com%2Fx")

			noSession := `{"error":{"code":401,"status":"Unauthorized","reason":"A valid Ory Session Cookie or Ory Session Token is missing.","message":"The request could not be authorized"}}`
			r = h.Do(http.MethodGet, "/self-service/settings/flows?id="+uuid.NewString(), nil, "Accept", acceptJSON)
			wantBody(t, r, http.StatusUnauthorized, noSession)
			r = h.Do(http.MethodGet, "/self-service/settings/flows?id="+uuid.NewString(), nil, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusFound, loginUI)

			r = h.Do(http.MethodPost, "/self-service/settings?flow=00000000-0000-0000-0000-000000000001", `{"method":"password","password":"whatever-Passw0rd!"}`)
			wantBody(t, r, http.StatusUnauthorized, noSession)
			r = h.Do(http.MethodPost, "/self-service/settings?flow="+uuid.NewString(), url.Values{"method": {"password"}}, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusFound, loginUI)

			// A revoked session is no session.
			ident := h.MustIdentity("revoked@example.test")
			s, tok := h.MustSession(ident)
			if err := h.sessions.Revoke(ctx, s.ID); err != nil {
				t.Fatal(err)
			}
			r = h.Do(http.MethodGet, "/self-service/settings/api", nil, "X-Session-Token", tok)
			if r.Status != http.StatusUnauthorized || errorID(r.JSON(t)) != "session_inactive" {
				t.Fatalf("revoked session = %d %s", r.Status, r.Body)
			}
		})

		ident := h.MustIdentity("status@example.test")
		_, tok := h.MustSession(ident)

		t.Run("FlowParameter", func(t *testing.T) {
			r := h.Do(http.MethodPost, "/self-service/settings", `{"method":"password"}`, "X-Session-Token", tok)
			wantBody(t, r, http.StatusBadRequest, `{"error":{"code":400,"status":"Bad Request","reason":"The flow query parameter is missing or malformed.","message":"The request was malformed or contained invalid parameters"}}`)
			r = h.Do(http.MethodPost, "/self-service/settings?flow="+uuid.NewString(), `{"method":"password"}`, "X-Session-Token", tok)
			wantBody(t, r, http.StatusNotFound, `{"error":{"code":404,"status":"Not Found","reason":"The settings request could not be found. Please restart the flow.","message":"Unable to locate the resource"}}`)
			r = h.Do(http.MethodGet, "/self-service/settings/flows?id="+uuid.NewString(), nil, "X-Session-Token", tok)
			if r.Status != http.StatusNotFound {
				t.Fatalf("unknown flow GET = %d", r.Status)
			}
			r = h.Do(http.MethodGet, "/self-service/settings/flows?id=nope", nil, "X-Session-Token", tok)
			if r.Status != http.StatusNotFound {
				t.Fatalf("malformed id GET = %d", r.Status)
			}
		})

		t.Run("OtherIdentitysFlow", func(t *testing.T) {
			victim := h.MustIdentity("victim@example.test")
			_, victimTok := h.MustSession(victim)
			apiFlow := createFlow(t, h, "api", victimTok)
			r := h.Do(http.MethodGet, "/self-service/settings/flows?id="+apiFlow, nil, "X-Session-Token", tok)
			wantBody(t, r, http.StatusForbidden, `{"error":{"id":"security_identity_mismatch","code":403,"status":"Forbidden","reason":"The request was made for another identity and has been blocked for security reasons.","message":"The requested action was forbidden"}}`)
			r = h.Do(http.MethodPost, "/self-service/settings?flow="+apiFlow, `{"method":"password","password":"`+newPassword+`"}`, "X-Session-Token", tok)
			wantBody(t, r, http.StatusForbidden, `{"error":{"id":"security_identity_mismatch","code":403,"status":"Forbidden","reason":"The request was initiated by someone else and has been blocked for security reasons. Please go back and try again.","message":"The requested action was forbidden"}}`)

			// A browser form goes to the error UI.
			browserFlow := createFlow(t, h, "browser", victimTok)
			b := h.NewBrowser(tok)
			r = b.Do(http.MethodPost, "/self-service/settings?flow="+browserFlow, url.Values{"method": {"password"}, "password": {newPassword}}, "Accept", acceptHTML)
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), errorUI+"?id=") {
				t.Fatalf("browser form = %d %s", r.Status, r.Header.Get("Location"))
			}
			if h.PasswordIs(victim.ID, newPassword) {
				t.Fatal("changed another identity's password")
			}
		})

		t.Run("ValidationErrorPerClient", func(t *testing.T) {
			// api: 400 with the flow.
			f := createFlow(t, h, "api", tok)
			r := h.Do(http.MethodPost, "/self-service/settings?flow="+f, `{"method":"password","password":"short"}`, "X-Session-Token", tok)
			if r.Status != http.StatusBadRequest || r.JSON(t)["id"] != f {
				t.Fatalf("api = %d %s", r.Status, r.Body)
			}
			// SPA: 400 with the flow.
			b := h.NewBrowser(tok)
			m := b.Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON).JSON(t)
			id := m["id"].(string)
			r = b.Do(http.MethodPost, "/self-service/settings?flow="+id, `{"method":"password","password":"short","csrf_token":"`+csrfValue(t, m)+`"}`, "Accept", acceptJSON)
			if r.Status != http.StatusBadRequest || r.JSON(t)["id"] != id {
				t.Fatalf("SPA = %d %s", r.Status, r.Body)
			}
			// Form: 303 back to the same flow in the UI, which shows the message.
			r = b.Do(http.MethodPost, "/self-service/settings?flow="+id, url.Values{"method": {"password"}, "password": {"short"}, "csrf_token": {csrfValue(t, m)}}, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusSeeOther, settingsUI+"?flow="+id)
			shown := b.Do(http.MethodGet, "/self-service/settings/flows?id="+id, nil).JSON(t)
			if !strings.Contains(mustJSON(shown), `"id":4000032`) {
				t.Fatalf("redirected flow does not show the error: %s", mustJSON(shown))
			}
		})

		t.Run("UnknownAndDisabledMethod", func(t *testing.T) {
			f := createFlow(t, h, "api", tok)
			r := h.Do(http.MethodPost, "/self-service/settings?flow="+f, `{"method":"nope"}`, "X-Session-Token", tok)
			m := r.JSON(t)
			if r.Status != http.StatusBadRequest || !strings.Contains(mustJSON(m["ui"]), `"messages":[{"id":4010004,"text":"Could not find a strategy to update your settings. Did you fill out the form correctly?","type":"error"}]`) {
				t.Fatalf("unknown method = %d %s", r.Status, r.Body)
			}
			h2 := newHarness(t, db, func(c *settingsConfig) { c.PasswordEnabled = false })
			_, tok2 := h2.MustSession(h2.MustIdentity("disabled@example.test"))
			f2 := createFlow(t, h2, "api", tok2)
			r = h2.Do(http.MethodPost, "/self-service/settings?flow="+f2, `{"method":"password","password":"`+newPassword+`"}`, "X-Session-Token", tok2)
			wantBody(t, r, http.StatusNotFound, `{"error":{"code":404,"status":"Not Found","reason":"This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it.","message":"The requested resource could not be found"}}`)
			if strings.Contains(string(h2.Do(http.MethodGet, "/self-service/settings/flows?id="+f2, nil, "X-Session-Token", tok2).Body), `"group":"password"`) {
				t.Fatal("disabled password method still rendered")
			}
		})

		t.Run("APIFlowRejectsBrowserHeaders", func(t *testing.T) {
			f := createFlow(t, h, "api", tok)
			r := h.Do(http.MethodPost, "/self-service/settings?flow="+f, `{"method":"password","password":"`+newPassword+`"}`,
				"X-Session-Token", tok, "Cookie", "some_cookie=1")
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"id":4000001`) || !strings.Contains(string(r.Body), `included the \"Cookie\" key`) {
				t.Fatalf("cookie on api flow = %d %s", r.Status, r.Body)
			}
			r = h.Do(http.MethodPost, "/self-service/settings?flow="+f, `{"method":"password","password":"`+newPassword+`"}`,
				"X-Session-Token", tok, "Origin", "https://evil.example")
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `included the \"Origin\" key`) {
				t.Fatalf("origin on api flow = %d %s", r.Status, r.Body)
			}
			if h.PasswordIs(ident.ID, newPassword) {
				t.Fatal("password changed")
			}
		})

		t.Run("SuccessfulFlowCanBeSubmittedAgain", func(t *testing.T) {
			i := h.MustIdentity("again@example.test")
			_, tk := h.MustSession(i)
			f := createFlow(t, h, "api", tk)
			for _, pw := range []string{newPassword, newPassword + "-2"} {
				r := h.Do(http.MethodPost, "/self-service/settings?flow="+f, `{"method":"password","password":"`+pw+`"}`, "X-Session-Token", tk)
				if r.Status != http.StatusOK {
					t.Fatalf("submit %q = %d %s", pw, r.Status, r.Body)
				}
			}
			if !h.PasswordIs(i.ID, newPassword+"-2") {
				t.Fatal("second change not saved")
			}
		})

		t.Run("ReturnToNotAllowed", func(t *testing.T) {
			b := h.NewBrowser(tok)
			r := b.Do(http.MethodGet, "/self-service/settings/browser?return_to=https://evil.example/", nil, "Accept", acceptJSON)
			if r.Status != http.StatusBadRequest || errorID(r.JSON(t)) != "self_service_flow_return_to_forbidden" {
				t.Fatalf("return_to = %d %s", r.Status, r.Body)
			}
			r = b.Do(http.MethodGet, "/self-service/settings/browser?return_to=https://evil.example/", nil, "Accept", acceptHTML)
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), errorUI+"?id=") {
				t.Fatalf("return_to form = %d %s", r.Status, r.Header.Get("Location"))
			}
		})

		t.Run("ResumeAfterLogin", func(t *testing.T) {
			f := createFlow(t, h, "browser", tok)
			b := h.NewBrowser(tok)
			r := b.Do(http.MethodGet, "/self-service/settings?flow="+f, nil, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusSeeOther, settingsUI+"?flow="+f)
		})
	})
}

// TestExpiredFlow: a flow past its lifespan answers 410 on fetch, and a
// submission gets a replacement flow carrying 4050001 (410 for JSON
// clients, a redirect to it for browsers).
func TestExpiredFlow(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, func(c *settingsConfig) { c.FlowLifespan = 10 * time.Minute })
		ident := h.MustIdentity("expired@example.test")
		_, tok := h.MustSession(ident)
		apiFlow := createFlow(t, h, "api", tok)
		b := h.NewBrowser(tok)
		m := b.Do(http.MethodGet, "/self-service/settings/browser?return_to=https://app.example.com/back", nil, "Accept", acceptJSON).JSON(t)
		browserFlow, csrf := m["id"].(string), csrfValue(t, m)
		h.clock.Advance(11 * time.Minute)

		r := h.Do(http.MethodGet, "/self-service/settings/flows?id="+apiFlow, nil, "X-Session-Token", tok)
		wantBody(t, r, http.StatusGone, `{"error":{"code":410,"status":"Gone","reason":"The settings flow has expired. Call the settings flow init API endpoint to initialize a new settings flow.","details":{"api":"`+h.pub+`self-service/settings/api"},"message":"The requested resource is no longer available because it has expired or is otherwise invalid."}}`)
		r = b.Do(http.MethodGet, "/self-service/settings/flows?id="+browserFlow, nil)
		wantBody(t, r, http.StatusGone, `{"error":{"code":410,"status":"Gone","reason":"The settings flow has expired. Redirect the user to the settings flow init endpoint to initialize a new settings flow.","details":{"redirect_to":"`+h.pub+`self-service/settings/browser?return_to=https%3A%2F%2Fapp.example.com%2Fback","return_to":"https://app.example.com/back"},"message":"The requested resource is no longer available because it has expired or is otherwise invalid."}}`)

		// api POST: 410 naming the replacement.
		r = h.Do(http.MethodPost, "/self-service/settings?flow="+apiFlow, `{"method":"password","password":"`+newPassword+`"}`, "X-Session-Token", tok)
		body := r.JSON(t)
		if r.Status != http.StatusGone || errorID(body) != "self_service_flow_expired" ||
			errorField(body, "reason") != "The self-service flow expired 1.00 minutes ago, initialize a new one." {
			t.Fatalf("expired POST = %d %s", r.Status, r.Body)
		}
		newID, _ := body["use_flow_id"].(string)
		if newID == "" || newID == apiFlow || body["expired_at"] == nil || body["since"] == nil {
			t.Fatalf("expired POST extras: %s", r.Body)
		}
		nf := h.Do(http.MethodGet, "/self-service/settings/flows?id="+newID, nil, "X-Session-Token", tok).JSON(t)
		if nf["type"] != "api" || !strings.Contains(mustJSON(nf["ui"]), `"id":4050001,"text":"The settings flow expired 1.00 minutes ago, please try again."`) {
			t.Fatalf("replacement flow: %s", mustJSON(nf))
		}

		// Browser form: 303 to the replacement in the UI, return_to kept.
		r = b.Do(http.MethodPost, "/self-service/settings?flow="+browserFlow, url.Values{"method": {"password"}, "password": {newPassword}, "csrf_token": {csrf}}, "Accept", acceptHTML)
		loc := r.Header.Get("Location")
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, settingsUI+"?flow=") || flowIDOf(t, loc) == browserFlow {
			t.Fatalf("expired form POST = %d %s", r.Status, loc)
		}
		nf = b.Do(http.MethodGet, "/self-service/settings/flows?id="+flowIDOf(t, loc), nil).JSON(t)
		if nf["type"] != "browser" || nf["return_to"] != "https://app.example.com/back" {
			t.Fatalf("browser replacement: %s", mustJSON(nf))
		}
		if h.PasswordIs(ident.ID, newPassword) {
			t.Fatal("password changed through an expired flow")
		}
	})
}

// createFlow starts a flow of type typ ("api" or "browser", as an SPA)
// with the session token and returns its id.
func createFlow(t *testing.T, h *harness, typ, token string) string {
	t.Helper()
	if typ == "api" {
		r := h.Do(http.MethodGet, "/self-service/settings/api", nil, "X-Session-Token", token)
		if r.Status != http.StatusOK {
			t.Fatalf("create api flow = %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["id"].(string)
	}
	r := h.NewBrowser(token).Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON)
	if r.Status != http.StatusOK {
		t.Fatalf("create browser flow = %d %s", r.Status, r.Body)
	}
	return r.JSON(t)["id"].(string)
}

// wantBody checks the status and that the body is exactly want (as JSON).
func wantBody(t *testing.T, r response, status int, want string) {
	t.Helper()
	// httpx's error writer escapes '&' as \u0026 (Kratos does not); the
	// JSON is the same, so compare the unescaped text.
	got := strings.ReplaceAll(strings.TrimSpace(string(r.Body)), `\u0026`, "&")
	if r.Status != status || got != want {
		t.Fatalf("got %d %s\nwant %d %s", r.Status, got, status, want)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q", ct)
	}
}

func wantRedirect(t *testing.T, r response, status int, location string) {
	t.Helper()
	if r.Status != status || r.Header.Get("Location") != location {
		t.Fatalf("got %d Location %q, want %d %q", r.Status, r.Header.Get("Location"), status, location)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
