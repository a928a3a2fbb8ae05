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

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestStatus pins the status code and body of every answer the spec
// lists for the settings endpoints (settings.md §2 and §5.1), per client.
func TestStatus(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()

		t.Run("NoSession", func(t *testing.T) {
			r := do(t, srv, http.MethodGet, "/self-service/settings/api", nil)
			wantBody(t, r, http.StatusUnauthorized, `{"error":{"id":"session_inactive","code":401,"status":"Unauthorized","reason":"This endpoint can only be accessed with a valid session. Please log in and try again.","message":"request does not have a valid authentication session"}}`)

			r = do(t, srv, http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON)
			wantBody(t, r, http.StatusUnauthorized, `{"error":{"id":"session_inactive","code":401,"status":"Unauthorized","reason":"No active session was found in this request.","message":"request does not have a valid authentication session"},"CredentialsMissing":false}`)

			r = do(t, srv, http.MethodGet, "/self-service/settings/browser?return_to=https://app.example.com/x", nil, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusSeeOther, srv.Config.PublicURL("self-service/login/browser?return_to=https%3A%2F%2Fapp.example.com%2Fx"))

			noSession := `{"error":{"code":401,"status":"Unauthorized","reason":"A valid Ory Session Cookie or Ory Session Token is missing.","message":"The request could not be authorized"}}`
			r = do(t, srv, http.MethodGet, "/self-service/settings/flows?id="+uuid.NewString(), nil, "Accept", acceptJSON)
			wantBody(t, r, http.StatusUnauthorized, noSession)
			r = do(t, srv, http.MethodGet, "/self-service/settings/flows?id="+uuid.NewString(), nil, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusFound, loginUI)

			r = do(t, srv, http.MethodPost, "/self-service/settings?flow=00000000-0000-0000-0000-000000000001", `{"method":"password","password":"whatever-Passw0rd!"}`)
			wantBody(t, r, http.StatusUnauthorized, noSession)
			r = do(t, srv, http.MethodPost, "/self-service/settings?flow="+uuid.NewString(), url.Values{"method": {"password"}}, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusFound, loginUI)

			// A revoked session is no session.
			ident := mustIdentity(t, srv, "revoked@example.test")
			s := mustSession(t, srv, ident.Id)
			tok := s.Token
			if _, err := srv.SDK(false).IdentityAPI.DisableSession(ctx, s.ID).Execute(); err != nil {
				t.Fatal(err)
			}
			r = do(t, srv, http.MethodGet, "/self-service/settings/api", nil, "X-Session-Token", tok)
			if r.Status != http.StatusUnauthorized || errorID(r.JSON(t)) != "session_inactive" {
				t.Fatalf("revoked session = %d %s", r.Status, r.Body)
			}
		})

		ident := mustIdentity(t, srv, "status@example.test")
		sess := mustSession(t, srv, ident.Id)
		tok := sess.Token

		t.Run("FlowParameter", func(t *testing.T) {
			r := do(t, srv, http.MethodPost, "/self-service/settings", `{"method":"password"}`, "X-Session-Token", tok)
			wantBody(t, r, http.StatusBadRequest, `{"error":{"code":400,"status":"Bad Request","reason":"The flow query parameter is missing or malformed.","message":"The request was malformed or contained invalid parameters"}}`)
			r = do(t, srv, http.MethodPost, "/self-service/settings?flow="+uuid.NewString(), `{"method":"password"}`, "X-Session-Token", tok)
			wantBody(t, r, http.StatusNotFound, `{"error":{"code":404,"status":"Not Found","reason":"The settings request could not be found. Please restart the flow.","message":"Unable to locate the resource"}}`)
			r = do(t, srv, http.MethodGet, "/self-service/settings/flows?id="+uuid.NewString(), nil, "X-Session-Token", tok)
			if r.Status != http.StatusNotFound {
				t.Fatalf("unknown flow GET = %d", r.Status)
			}
			r = do(t, srv, http.MethodGet, "/self-service/settings/flows?id=nope", nil, "X-Session-Token", tok)
			if r.Status != http.StatusNotFound {
				t.Fatalf("malformed id GET = %d", r.Status)
			}
		})

		t.Run("OtherIdentitysFlow", func(t *testing.T) {
			victim := mustIdentity(t, srv, "victim@example.test")
			victimSess := mustSession(t, srv, victim.Id)
			apiFlow := createFlow(t, srv, "api", victimSess)
			r := do(t, srv, http.MethodGet, "/self-service/settings/flows?id="+apiFlow, nil, "X-Session-Token", tok)
			wantBody(t, r, http.StatusForbidden, `{"error":{"id":"security_identity_mismatch","code":403,"status":"Forbidden","reason":"The request was made for another identity and has been blocked for security reasons.","message":"The requested action was forbidden"}}`)
			r = do(t, srv, http.MethodPost, "/self-service/settings?flow="+apiFlow, `{"method":"password","password":"`+newPassword+`"}`, "X-Session-Token", tok)
			wantBody(t, r, http.StatusForbidden, `{"error":{"id":"security_identity_mismatch","code":403,"status":"Forbidden","reason":"The request was initiated by someone else and has been blocked for security reasons. Please go back and try again.","message":"The requested action was forbidden"}}`)

			// A browser form goes to the error UI.
			browserFlow := createFlow(t, srv, "browser", victimSess)
			b := newBrowser(t, srv, sess)
			r = b.Do(http.MethodPost, "/self-service/settings?flow="+browserFlow, url.Values{"method": {"password"}, "password": {newPassword}}, "Accept", acceptHTML)
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), errorUI+"?id=") {
				t.Fatalf("browser form = %d %s", r.Status, r.Header.Get("Location"))
			}
			if srv.PasswordIs(t, victim.Id, newPassword) {
				t.Fatal("changed another identity's password")
			}
		})

		t.Run("ValidationErrorPerClient", func(t *testing.T) {
			// api: 400 with the flow.
			f := createFlow(t, srv, "api", sess)
			r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"password","password":"short"}`, "X-Session-Token", tok)
			if r.Status != http.StatusBadRequest || r.JSON(t)["id"] != f {
				t.Fatalf("api = %d %s", r.Status, r.Body)
			}
			// SPA: 400 with the flow.
			b := newBrowser(t, srv, sess)
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
			f := createFlow(t, srv, "api", sess)
			r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"nope"}`, "X-Session-Token", tok)
			m := r.JSON(t)
			if r.Status != http.StatusBadRequest || !strings.Contains(mustJSON(m["ui"]), `"messages":[{"id":4010004,"text":"Could not find a strategy to update your settings. Did you fill out the form correctly?","type":"error"}]`) {
				t.Fatalf("unknown method = %d %s", r.Status, r.Body)
			}
			noPassword := srv.StartSharingDB(t, options("SELFSERVICE_METHODS_PASSWORD_ENABLED=false"))
			sess2 := mustSession(t, noPassword, mustIdentity(t, noPassword, "disabled@example.test").Id)
			tok2 := sess2.Token
			f2 := createFlow(t, noPassword, "api", sess2)
			r = do(t, noPassword, http.MethodPost, "/self-service/settings?flow="+f2, `{"method":"password","password":"`+newPassword+`"}`, "X-Session-Token", tok2)
			wantBody(t, r, http.StatusNotFound, `{"error":{"code":404,"status":"Not Found","reason":"This endpoint was disabled by system administrator. Please check your url or contact the system administrator to enable it.","message":"The requested resource could not be found"}}`)
			if strings.Contains(string(do(t, noPassword, http.MethodGet, "/self-service/settings/flows?id="+f2, nil, "X-Session-Token", tok2).Body), `"group":"password"`) {
				t.Fatal("disabled password method still rendered")
			}
		})

		t.Run("APIFlowRejectsBrowserHeaders", func(t *testing.T) {
			f := createFlow(t, srv, "api", sess)
			r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"password","password":"`+newPassword+`"}`,
				"X-Session-Token", tok, "Cookie", "some_cookie=1")
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"id":4000001`) || !strings.Contains(string(r.Body), `included the \"Cookie\" key`) {
				t.Fatalf("cookie on api flow = %d %s", r.Status, r.Body)
			}
			r = do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"password","password":"`+newPassword+`"}`,
				"X-Session-Token", tok, "Origin", "https://evil.example")
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `included the \"Origin\" key`) {
				t.Fatalf("origin on api flow = %d %s", r.Status, r.Body)
			}
			if srv.PasswordIs(t, ident.Id, newPassword) {
				t.Fatal("password changed")
			}
		})

		t.Run("SuccessfulFlowCanBeSubmittedAgain", func(t *testing.T) {
			i := mustIdentity(t, srv, "again@example.test")
			s := mustSession(t, srv, i.Id)
			tk := s.Token
			f := createFlow(t, srv, "api", s)
			for _, pw := range []string{newPassword, newPassword + "-2"} {
				r := do(t, srv, http.MethodPost, "/self-service/settings?flow="+f, `{"method":"password","password":"`+pw+`"}`, "X-Session-Token", tk)
				if r.Status != http.StatusOK {
					t.Fatalf("submit %q = %d %s", pw, r.Status, r.Body)
				}
			}
			if !srv.PasswordIs(t, i.Id, newPassword+"-2") {
				t.Fatal("second change not saved")
			}
		})

		t.Run("ReturnToNotAllowed", func(t *testing.T) {
			b := newBrowser(t, srv, sess)
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
			f := createFlow(t, srv, "browser", sess)
			b := newBrowser(t, srv, sess)
			r := b.Do(http.MethodGet, "/self-service/settings?flow="+f, nil, "Accept", acceptHTML)
			wantRedirect(t, r, http.StatusSeeOther, settingsUI+"?flow="+f)
		})
	})
}

// TestExpiredFlow: a flow past its lifespan answers 410 on fetch, and a
// submission gets a replacement flow carrying 4050001 (410 for JSON
// clients, a redirect to it for browsers).
func TestExpiredFlow(t *testing.T) {
	servertest.Each(t, options("SELFSERVICE_FLOWS_SETTINGS_LIFESPAN=10m"), func(t *testing.T, srv *servertest.Server) {
		// Frozen: the messages say exactly how long ago the flow expired,
		// however slowly the machine runs the steps below.
		srv.Clock.Freeze()
		ident := mustIdentity(t, srv, "expired@example.test")
		sess := mustSession(t, srv, ident.Id)
		tok := sess.Token
		apiFlow := createFlow(t, srv, "api", sess)
		b := newBrowser(t, srv, sess)
		m := b.Do(http.MethodGet, "/self-service/settings/browser?return_to=https://app.example.com/back", nil, "Accept", acceptJSON).JSON(t)
		browserFlow, csrf := m["id"].(string), csrfValue(t, m)
		srv.Clock.Advance(11 * time.Minute)

		r := do(t, srv, http.MethodGet, "/self-service/settings/flows?id="+apiFlow, nil, "X-Session-Token", tok)
		wantBody(t, r, http.StatusGone, `{"error":{"code":410,"status":"Gone","reason":"The settings flow has expired. Call the settings flow init API endpoint to initialize a new settings flow.","details":{"api":"`+srv.Config.PublicURL("self-service/settings/api")+`"},"message":"The requested resource is no longer available because it has expired or is otherwise invalid."}}`)
		r = b.Do(http.MethodGet, "/self-service/settings/flows?id="+browserFlow, nil)
		wantBody(t, r, http.StatusGone, `{"error":{"code":410,"status":"Gone","reason":"The settings flow has expired. Redirect the user to the settings flow init endpoint to initialize a new settings flow.","details":{"redirect_to":"`+srv.Config.PublicURL("self-service/settings/browser")+`?return_to=https%3A%2F%2Fapp.example.com%2Fback","return_to":"https://app.example.com/back"},"message":"The requested resource is no longer available because it has expired or is otherwise invalid."}}`)

		// api POST: 410 naming the replacement.
		r = do(t, srv, http.MethodPost, "/self-service/settings?flow="+apiFlow, `{"method":"password","password":"`+newPassword+`"}`, "X-Session-Token", tok)
		body := r.JSON(t)
		if r.Status != http.StatusGone || errorID(body) != "self_service_flow_expired" ||
			errorField(body, "reason") != "The self-service flow expired 1.00 minutes ago, initialize a new one." {
			t.Fatalf("expired POST = %d %s", r.Status, r.Body)
		}
		newID, _ := body["use_flow_id"].(string)
		if newID == "" || newID == apiFlow || body["expired_at"] == nil || body["since"] == nil {
			t.Fatalf("expired POST extras: %s", r.Body)
		}
		nf := do(t, srv, http.MethodGet, "/self-service/settings/flows?id="+newID, nil, "X-Session-Token", tok).JSON(t)
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
		if srv.PasswordIs(t, ident.Id, newPassword) {
			t.Fatal("password changed through an expired flow")
		}
	})
}

// createFlow starts a flow of type typ ("api" with the session's token,
// or "browser" with its cookie, as an SPA) and returns its id.
func createFlow(t *testing.T, srv *servertest.Server, typ string, sess servertest.Session) string {
	t.Helper()
	if typ == "api" {
		r := do(t, srv, http.MethodGet, "/self-service/settings/api", nil, "X-Session-Token", sess.Token)
		if r.Status != http.StatusOK {
			t.Fatalf("create api flow = %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["id"].(string)
	}
	r := newBrowser(t, srv, sess).Do(http.MethodGet, "/self-service/settings/browser", nil, "Accept", acceptJSON)
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
