package servertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// SessionCookieName is the name of the session cookie unless
// session.cookie.name says otherwise.
const SessionCookieName = "ory_kratos_session"

// Session is a signed-in session as a test holds it: its id, the token a
// native client presents and, when a browser signed in, the cookie that
// browser holds (Token is then the token inside the cookie). ID is read
// with whoami; it is empty when whoami refuses the session (an identity
// with a second factor under session.whoami.required_aal
// highest_available).
type Session struct {
	ID     string
	Token  string
	Cookie *http.Cookie
}

// MustNativeLogin signs in with a password as a native app does and
// returns the session token.
func (s *Server) MustNativeLogin(t testing.TB, identifier, pw string) string {
	t.Helper()
	ctx := context.Background()
	sdk := s.SDK(false)
	f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		t.Fatalf("create login flow: %v %s", err, ErrorText(err))
	}
	ok, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(
		ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(identifier, "password", pw))).Execute()
	if err != nil {
		t.Fatalf("login %s: %v %s", identifier, err, ErrorText(err))
	}
	return ok.GetSessionToken()
}

// MustImportSession stores an active aal1 password session of the
// identity whose token is token, as a session copied from Kratos is kept:
// the keyed hash of the token Kratos issued, under secrets.default. It
// returns the session's id.
func (s *Server) MustImportSession(t testing.TB, identityID, token string, authenticatedAt, expiresAt time.Time) string {
	t.Helper()
	ss := &session.Session{
		ID:                    uuid.New(),
		IdentityID:            uuid.MustParse(identityID),
		Active:                true,
		ExpiresAt:             expiresAt,
		AuthenticatedAt:       authenticatedAt,
		IssuedAt:              authenticatedAt,
		AAL:                   session.AAL1,
		AuthenticationMethods: []session.AuthMethod{{Method: "password", AAL: session.AAL1, CompletedAt: authenticatedAt}},
		CreatedAt:             authenticatedAt,
		UpdatedAt:             authenticatedAt,
	}
	hash := secret.Hasher{Secrets: s.Config.Secrets.DefaultKeys().VerificationSecrets()}.Hash(token)
	if err := sqlstore.NewSessionStore(s.DB).CreateSession(context.Background(), ss, hash); err != nil {
		t.Fatalf("import session: %v", err)
	}
	return ss.ID.String()
}

// Recovered is what a client holds after recovering an account.
type Recovered struct {
	Session
	// RecoveryFlowID is the recovery flow the code was submitted to.
	RecoveryFlowID string
	// SettingsFlowID is the settings flow the recovery started.
	SettingsFlowID string
}

// MustRecover recovers an identity with an admin recovery code (any
// identity, with or without password or address) and submits the code
// as a client of flowType does: "api" gets the session token, "browser"
// the session cookie. returnTo ("" for none) is the admin call's
// return_to. It needs use_continue_with_transitions (the default): with
// Kratos's transitions a native client gets no session.
func (s *Server) MustRecover(t testing.TB, identityID, flowType, returnTo string) Recovered {
	t.Helper()
	admin := s.Admin.URL + "/admin/recovery/code"
	if returnTo != "" {
		admin += "?return_to=" + url.QueryEscape(returnTo)
	}
	res, code := Do(t, s.HTTPClient(false), http.MethodPost, admin, map[string]any{"identity_id": identityID, "flow_type": flowType}, nil)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("admin recovery code: %d %v", res.StatusCode, code)
	}
	link, _ := url.Parse(code["recovery_link"].(string))
	flowID := link.Query().Get("flow")
	res, done := Do(t, s.HTTPClient(flowType == "browser"), http.MethodPost, s.Public.URL+"/self-service/recovery?flow="+flowID,
		map[string]any{"method": "code", "code": code["recovery_code"]}, http.Header{"Accept": {"application/json"}})
	r := Recovered{RecoveryFlowID: flowID}
	if stepUp, _ := done["redirect_browser_to"].(string); res.StatusCode == http.StatusUnprocessableEntity && flowType == "browser" {
		// A browser of an identity with a second factor is sent to the
		// aal2 login, which returns to the settings flow.
		r.SettingsFlowID = SettingsFlowAfterStepUp(t, stepUp)
		r.Session = s.SessionOf(t, res)
		return r
	}
	if res.StatusCode != http.StatusOK || done["state"] != "passed_challenge" {
		t.Fatalf("recovery with the admin code: %d %v", res.StatusCode, done)
	}
	continueWith, _ := done["continue_with"].([]any)
	for _, c := range continueWith {
		c, _ := c.(map[string]any)
		switch c["action"] {
		case "set_ory_session_token":
			r.Token, _ = c["ory_session_token"].(string)
		case "show_settings_ui":
			r.SettingsFlowID, _ = c["flow"].(map[string]any)["id"].(string)
		}
	}
	if flowType == "browser" {
		r.Session = s.SessionOf(t, res)
	} else {
		r.ID = s.sessionID(t, r.Token)
	}
	return r
}

// SettingsFlowAfterStepUp is the settings flow id an aal2 step-up URL
// (PUB/self-service/login/browser?aal=aal2&return_to=<settings UI>?flow=<id>)
// returns to.
func SettingsFlowAfterStepUp(t testing.TB, stepUp string) string {
	t.Helper()
	u, err := url.Parse(stepUp)
	if err != nil || u.Query().Get("aal") != "aal2" {
		t.Fatalf("not an aal2 step-up: %q", stepUp)
	}
	back, err := url.Parse(u.Query().Get("return_to"))
	if err != nil || back.Query().Get("flow") == "" {
		t.Fatalf("the step-up %q does not return to a settings flow", stepUp)
	}
	return back.Query().Get("flow")
}

// MustRecoverySession signs an identity in as a recovery does (method
// code_recovery, authenticated now) and returns the session with its
// cookie. Note that recovery revokes the identity's other sessions
// unless selfservice.flows.recovery.revoke_other_sessions is false.
func (s *Server) MustRecoverySession(t testing.TB, identityID string) Session {
	t.Helper()
	return s.MustRecover(t, identityID, "browser", "").Session
}

// Browser returns a cookie-keeping client, not following redirects, that
// holds the session's cookie and nothing else.
func (s *Server) Browser(t testing.TB, sess Session) *http.Client {
	t.Helper()
	if sess.Cookie == nil {
		t.Fatal("the session was not made by a browser: it has no cookie")
	}
	c := s.HTTPClient(true)
	u, _ := url.Parse(s.Public.URL)
	c.Jar.SetCookies(u, []*http.Cookie{sess.Cookie})
	return c
}

// SessionActive reports whether token names an active session (whoami
// answers 200).
func (s *Server) SessionActive(t testing.TB, token string) bool {
	t.Helper()
	res, _ := DoRaw(t, s.HTTPClient(false), http.MethodGet, s.Public.URL+"/sessions/whoami", nil, http.Header{"X-Session-Token": {token}})
	return res.StatusCode == http.StatusOK
}

// SessionOf is the session a response (a browser's login, registration
// or recovery) set as a cookie.
func (s *Server) SessionOf(t testing.TB, res *http.Response) Session {
	t.Helper()
	name := s.Config.Session.Cookie.Name
	for _, c := range res.Cookies() {
		if c.Name == name && c.Value != "" {
			token := tokenInCookie(t, c.Value)
			return Session{ID: s.sessionID(t, token), Token: token, Cookie: c}
		}
	}
	t.Fatalf("no session cookie in %v", res.Header["Set-Cookie"])
	return Session{}
}

// tokenInCookie is the session token a session cookie carries: its value
// is base64url(token "|" expiry) "." base64url(MAC) (see
// internal/session/cookie.go). Tests read it so that a native request and
// a browser can present the same session.
func tokenInCookie(t testing.TB, value string) string {
	t.Helper()
	payload, _, _ := strings.Cut(value, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	i := strings.LastIndexByte(string(b), '|')
	if err != nil || i < 0 {
		t.Fatalf("session cookie %q does not carry a token", value)
	}
	return string(b[:i])
}

// sessionID is the id of the session of token, "" when whoami asks for
// a second factor.
func (s *Server) sessionID(t testing.TB, token string) string {
	t.Helper()
	res, raw := DoRaw(t, s.HTTPClient(false), http.MethodGet, s.Public.URL+"/sessions/whoami", nil, http.Header{"X-Session-Token": {token}})
	var who struct {
		ID    string `json:"id"`
		Error struct {
			ID string `json:"id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &who); err != nil || res.StatusCode != http.StatusOK && who.Error.ID != "session_aal2_required" {
		t.Fatalf("whoami: %d %s", res.StatusCode, raw)
	}
	return who.ID
}
