package session_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/session"
)

// Exact bodies the spec fixes.
const (
	bodyWhoami401  = `{"error":{"code":401,"status":"Unauthorized","reason":"No valid session credentials found in the request.","message":"The request could not be authorized"}}`
	bodyCookie401  = `{"error":{"code":401,"status":"Unauthorized","reason":"No valid session cookie found.","message":"The request could not be authorized"}}`
	bodyInactive   = `{"error":{"id":"session_inactive","code":401,"status":"Unauthorized","reason":"No active session was found in this request.","message":"request does not have a valid authentication session"}}`
	bodyNotFound   = `{"error":{"code":404,"status":"Not Found","message":"Unable to locate the resource"}}`
	bodyCurrent    = `{"error":{"code":400,"status":"Bad Request","message":"cannot revoke current session"}}`
	bodyBadActive  = `{"error":{"code":400,"status":"Bad Request","message":"could not parse parameter active"}}`
	bodyBadExpand  = `{"error":{"code":400,"status":"Bad Request","reason":"Could not parse expand option: everything","message":"The request was malformed or contained invalid parameters"}}`
	bodyBadToken   = `{"error":{"code":403,"status":"Forbidden","reason":"The provided Ory Session Token could not be found, is invalid, or otherwise malformed.","message":"The requested action was forbidden"}}`
	bodyLogoutMiss = `{"error":{"code":403,"status":"Forbidden","reason":"Unable to log out because the logout token in the URL query does not match the session cookie.","message":"The requested action was forbidden"}}`
)

func bodyAAL2(pub string) string {
	u := pub + "/self-service/login/browser?aal=aal2"
	return `{"error":{"id":"session_aal2_required","code":403,"status":"Forbidden","reason":"An active session was found but it does not fulfill the requested Authenticator Assurance Level. Please verify yourself with a second factor to resolve this issue.","details":{"redirect_browser_to":"` + u + `"},"message":"Session does not fulfill the requested Authenticator Assurance Level"},"redirect_browser_to":"` + u + `"}`
}

func TestSessions(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		srv.Clock.Freeze()
		ctx := context.Background()

		t.Run("Issue", func(t *testing.T) { testIssue(t, srv) })
		t.Run("Whoami", func(t *testing.T) { testWhoami(t, srv) })
		t.Run("AAL", func(t *testing.T) { testAAL(t, srv) })
		t.Run("Cookie", func(t *testing.T) { testCookie(t, srv) })
		t.Run("SecretRotation", func(t *testing.T) { testRotation(t, srv) })
		t.Run("Logout", func(t *testing.T) { testLogout(t, srv) })
		t.Run("MySessions", func(t *testing.T) { testMySessions(t, srv) })
		t.Run("AdminIdentitySessions", func(t *testing.T) { testAdminIdentitySessions(t, srv) })
		t.Run("AdminSessions", func(t *testing.T) { testAdminSessions(t, srv) })
		t.Run("Extend", func(t *testing.T) { testExtend(t, srv) })
		t.Run("Reauthenticate", func(t *testing.T) { testReauthenticate(t, srv) })

		// A recovery issues its session inside its transaction: when the
		// transaction's last write fails, no session is left.
		t.Run("IssueJoinsTheCallersTransaction", func(t *testing.T) {
			ident, _ := mustIdentity(t, srv, identityOpts{})
			code, _, err := srv.SDK(false).IdentityAPI.CreateRecoveryCodeForIdentity(ctx).CreateRecoveryCodeForIdentityBody(
				ory.CreateRecoveryCodeForIdentityBody{IdentityId: ident.Id, FlowType: ory.PtrString("api")}).Execute()
			if err != nil {
				t.Fatal(err)
			}
			flowID := code.RecoveryLink[strings.Index(code.RecoveryLink, "flow=")+len("flow="):]
			lift := srv.FailRecoveryCompletion(t)
			r := do(t, "POST", srv.Public.URL+"/self-service/recovery?flow="+flowID, `{"method":"code","code":"`+code.RecoveryCode+`"}`, "Content-Type: application/json")
			lift()
			if r.StatusCode != 500 {
				t.Fatalf("failing recovery: %d %s", r.StatusCode, r.body)
			}
			var n int
			if err := srv.DB.QueryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE identity_id = ?`, ident.Id).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%d sessions left by the rolled back recovery (%v)", n, err)
			}
		})
	})
}

func testIssue(t *testing.T, srv *servertest.Server) {
	_, email := mustIdentity(t, srv, identityOpts{})

	t.Run("TokenFormatAndFields", func(t *testing.T) {
		sess, addr := login(t, srv, email, curl)
		if !regexp.MustCompile(`^ory_st_[A-Za-z0-9]{32}$`).MatchString(sess.Token) {
			t.Fatalf("token %q has the wrong format", sess.Token)
		}
		s := whoami(t, srv, sess.Token)
		now := srv.Clock.Now().Truncate(time.Microsecond)
		if !s.AuthenticatedAt.Equal(now) || !s.IssuedAt.Equal(now) || !s.ExpiresAt.Equal(now.Add(24*time.Hour)) {
			t.Fatalf("times: authenticated %v issued %v expires %v, now %v", s.AuthenticatedAt, s.IssuedAt, s.ExpiresAt, now)
		}
		if s.GetAuthenticatorAssuranceLevel() != "aal1" || len(s.AuthenticationMethods) != 1 || s.AuthenticationMethods[0].GetMethod() != "password" || s.AuthenticationMethods[0].GetAal() != "aal1" {
			t.Fatalf("methods %+v aal %s", s.AuthenticationMethods, s.GetAuthenticatorAssuranceLevel())
		}
		d := s.Devices[0]
		if d.GetIpAddress() != addr || d.GetUserAgent() != "curl/7.88.1" || d.Location == nil || *d.Location != "" {
			t.Fatalf("device %+v, client %s", d, addr)
		}
	})

	t.Run("DatabaseNeverHoldsTheToken", func(t *testing.T) {
		token := mustSession(t, srv, email).Token
		rows, err := srv.DB.Query(context.Background(), `SELECT * FROM sessions`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				s := fmt.Sprintf("%s", v)
				if strings.Contains(s, token) || strings.Contains(s, strings.TrimPrefix(token, "ory_st_")) {
					t.Fatalf("column %s holds the token in plain text: %s", cols[i], s)
				}
			}
			n++
		}
		if n == 0 {
			t.Fatal("no session rows scanned")
		}
	})

	t.Run("ProxyHeadersFromAnUntrustedClientAreIgnored", func(t *testing.T) {
		// No trusted proxy is configured: the device is the socket peer.
		// An empty User-Agent makes the client send none.
		sess, addr := login(t, srv, email, http.Header{
			"X-Forwarded-For": {"203.0.113.7, 10.0.0.1"}, "True-Client-Ip": {"203.0.113.8"}, "Cf-Ipcity": {"Berlin"}, "Cf-Ipcountry": {"DE"}, "User-Agent": {""},
		})
		d := whoami(t, srv, sess.Token).Devices[0]
		if d.GetIpAddress() != addr || d.UserAgent != nil || d.GetLocation() != "Berlin, DE" {
			t.Fatalf("device ip=%v (socket %s) ua=%v loc=%v", d.GetIpAddress(), addr, d.UserAgent, d.GetLocation())
		}
	})

	t.Run("InactiveIdentityIsRefused", func(t *testing.T) {
		inactive, inactiveEmail := mustIdentity(t, srv, identityOpts{inactive: true})
		f, _, err := srv.SDK(false).FrontendAPI.CreateNativeLoginFlow(context.Background()).Execute()
		if err != nil {
			t.Fatal(err)
		}
		res, body := servertest.Do(t, srv.HTTPClient(false), "POST", srv.Public.URL+"/self-service/login?flow="+f.Id,
			map[string]any{"method": "password", "identifier": inactiveEmail, "password": pw}, nil)
		e, _ := body["error"].(map[string]any)
		details, _ := e["details"].(map[string]any)
		if res.StatusCode != 401 || e["code"] != float64(401) || e["reason"] != "This account was disabled." || e["message"] != "identity is disabled" || details["identity_id"] != inactive.Id {
			t.Fatalf("%d %v", res.StatusCode, body)
		}
		var n int
		if err := srv.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM sessions WHERE identity_id = ?`, inactive.Id).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d sessions issued for an inactive identity (%v)", n, err)
		}
	})
}

// TestDeviceBehindTrustedProxies: behind trusted proxies the device
// records the client the right-most untrusted X-Forwarded-For entry names.
func TestDeviceBehindTrustedProxies(t *testing.T) {
	servertest.Each(t, options(`SERVE_PUBLIC_TRUSTED_PROXIES=["127.0.0.1", "10.0.0.0/8"]`), func(t *testing.T, srv *servertest.Server) {
		_, email := mustIdentity(t, srv, identityOpts{})
		sess, _ := login(t, srv, email, http.Header{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7, 10.0.0.1"}})
		if d := whoami(t, srv, sess.Token).Devices[0]; d.GetIpAddress() != "203.0.113.7" {
			t.Fatalf("device ip=%v", d.GetIpAddress())
		}
	})
}

func testWhoami(t *testing.T, srv *servertest.Server) {
	ident, email := mustIdentity(t, srv, identityOpts{})
	s, addr := login(t, srv, email, curl)
	token, cookie := s.Token, cookieHeader(s)
	whoamiURL := srv.Public.URL + "/sessions/whoami"

	t.Run("EachCarrierThroughTheSDK", func(t *testing.T) {
		cases := []struct {
			name string
			req  func() ory.FrontendAPIToSessionRequest
		}{
			{"XSessionToken", func() ory.FrontendAPIToSessionRequest {
				return srv.SDK(false).FrontendAPI.ToSession(context.Background()).XSessionToken(token)
			}},
			{"Cookie", func() ory.FrontendAPIToSessionRequest {
				return srv.SDK(false).FrontendAPI.ToSession(context.Background()).Cookie(cookie)
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, res, err := c.req().Execute()
				if err != nil {
					t.Fatalf("ToSession: %v", err)
				}
				if got.Id != s.ID || !got.GetActive() || got.Identity.Id != ident.Id {
					t.Fatalf("session %+v", got)
				}
				if res.Header.Get("X-Kratos-Authenticated-Identity-Id") != ident.Id {
					t.Fatalf("identity header %q", res.Header.Get("X-Kratos-Authenticated-Identity-Id"))
				}
				if got.Identity.SchemaUrl != srv.Public.URL+"/schemas/ZGVmYXVsdA" {
					t.Fatalf("schema_url %q", got.Identity.SchemaUrl)
				}
				if len(got.Devices) != 1 || got.Devices[0].GetIpAddress() != addr {
					t.Fatalf("devices %+v, client %s", got.Devices, addr)
				}
			})
		}
		for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
			t.Run("Authorization"+scheme, func(t *testing.T) {
				r := do(t, "GET", whoamiURL, "", "Authorization: "+scheme+" "+token)
				r.expect(t, 200, "")
				if r.Header.Get("Cache-Control") != "private, no-cache, no-store, must-revalidate" {
					t.Fatalf("Cache-Control %q", r.Header.Get("Cache-Control"))
				}
			})
		}
	})

	t.Run("JSONShape", func(t *testing.T) {
		r := do(t, "GET", whoamiURL, "", "X-Session-Token: "+token)
		r.expect(t, 200, "")
		keys := regexp.MustCompile(`^\{"id":"[^"]+","active":true,"expires_at":"[^"]+","authenticated_at":"[^"]+","authenticator_assurance_level":"aal1","authentication_methods":\[\{"method":"password","aal":"aal1","completed_at":"[^"]+"\}\],"issued_at":"[^"]+","identity":\{"id":`)
		if !keys.MatchString(r.body) {
			t.Fatalf("key order or values differ: %s", r.body)
		}
		if strings.Contains(r.body, token) || strings.Contains(r.body, "credentials") || strings.Contains(r.body, "hashed_password") {
			t.Fatalf("whoami leaks a secret: %s", r.body)
		}
		if !strings.Contains(r.body, `"devices":[{"id":"`) || !strings.Contains(r.body, `"ip_address":"`+addr+`","user_agent":"curl/7.88.1","location":""}]`) {
			t.Fatalf("devices missing: %s", r.body)
		}
		if !strings.Contains(r.body, `"recovery_addresses":[`) {
			t.Fatalf("whoami shows the full public identity: %s", r.body)
		}
	})

	t.Run("AnyMethod", func(t *testing.T) {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			r := do(t, m, whoamiURL, "", "X-Session-Token: "+token)
			if r.StatusCode != 200 {
				t.Fatalf("%s whoami: %d %s", m, r.StatusCode, r.body)
			}
		}
		// DELETE /sessions/whoami is whoami, not "revoke session whoami".
		do(t, "DELETE", whoamiURL, "", "X-Session-Token: "+token).expect(t, 200, "")
	})

	t.Run("Precedence", func(t *testing.T) {
		other := mustSession(t, srv, email)
		otherToken := other.Token
		cases := []struct {
			name    string
			headers []string
			want    string // session id, or "" for 401
		}{
			{"HeaderBeatsCookie", []string{"X-Session-Token: " + otherToken, "Cookie: " + cookie}, other.ID},
			{"BogusHeaderIsNotRescuedByCookie", []string{"X-Session-Token: ory_st_bogus", "Cookie: " + cookie}, ""},
			{"CookieBeatsBearer", []string{"Cookie: " + cookie, "Authorization: Bearer " + otherToken}, s.ID},
			{"BadCookieIsNoCookie", []string{"Cookie: ory_kratos_session=garbage", "Authorization: Bearer " + otherToken}, other.ID},
			{"BearerNeedsExactlyTwoParts", []string{"Authorization: Bearer " + token + " extra"}, ""},
			{"OtherSchemeIgnored", []string{"Authorization: Basic " + token}, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := do(t, "GET", whoamiURL, "", c.headers...)
				if c.want == "" {
					r.expect(t, 401, bodyWhoami401)
					return
				}
				r.expect(t, 200, "")
				if !strings.Contains(r.body, `"id":"`+c.want+`"`) {
					t.Fatalf("got another session: %s", r.body)
				}
			})
		}
	})

	t.Run("EveryFailureLooksTheSame", func(t *testing.T) {
		expiredToken := mustSession(t, srv, email).Token
		revoked := mustSession(t, srv, email)
		revoke(t, srv, revoked.ID)
		disabled, disabledEmail := mustIdentity(t, srv, identityOpts{})
		disabledToken := mustSession(t, srv, disabledEmail).Token
		if _, _, err := srv.SDK(false).IdentityAPI.PatchIdentity(context.Background(), disabled.Id).JsonPatch(
			[]ory.JsonPatch{{Op: "replace", Path: "/state", Value: "inactive"}}).Execute(); err != nil {
			t.Fatalf("deactivate: %v %s", err, servertest.ErrorText(err))
		}

		// Expire one session by moving the clock past it, then back.
		srv.Clock.Advance(25 * time.Hour)
		do(t, "GET", whoamiURL, "", "X-Session-Token: "+expiredToken).expect(t, 401, bodyWhoami401)
		srv.Clock.Advance(-25 * time.Hour)

		tampered := strings.Replace(cookie, "ory_kratos_session=", "ory_kratos_session=A", 1)
		forged := "ory_kratos_session=" + base64.RawURLEncoding.EncodeToString([]byte(token+"|9999999999")) + ".AAAA"
		cases := map[string][]string{
			"NoCredentials":    nil,
			"BogusToken":       {"X-Session-Token: ory_st_bogusbogusbogusbogusbogusbogus"},
			"RevokedSession":   {"X-Session-Token: " + revoked.Token},
			"InactiveIdentity": {"X-Session-Token: " + disabledToken},
			"TamperedCookie":   {"Cookie: " + tampered},
			"ForgedCookie":     {"Cookie: " + forged},
			"HugeToken":        {"X-Session-Token: " + strings.Repeat("x", 5000)},
		}
		for name, h := range cases {
			t.Run(name, func(t *testing.T) {
				r := do(t, "GET", whoamiURL, "", h...)
				r.expect(t, 401, bodyWhoami401)
				if r.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
				}
			})
		}
	})

	t.Run("NoWriteOnWhoami", func(t *testing.T) {
		var before time.Time
		if err := srv.DB.QueryRow(context.Background(), `SELECT updated_at FROM sessions WHERE id = ?`, s.ID).Scan(&before); err != nil {
			t.Fatal(err)
		}
		srv.Clock.Advance(time.Minute)
		do(t, "GET", whoamiURL, "", "X-Session-Token: "+token).expect(t, 200, "")
		var after time.Time
		if err := srv.DB.QueryRow(context.Background(), `SELECT updated_at FROM sessions WHERE id = ?`, s.ID).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if !after.Equal(before) {
			t.Fatalf("whoami wrote the session: updated_at %v -> %v", before, after)
		}
	})
}

func testAAL(t *testing.T, srv *servertest.Server) {
	whoamiURL := srv.Public.URL + "/sessions/whoami"
	// aal1 requires only a first factor at whoami.
	aal1 := start(t, srv, "SESSION_WHOAMI_REQUIRED_AAL=aal1")
	// Another instance, which looks each session up only after its second
	// factor was recorded (srv's whoami cache may hold the session from
	// before).
	fresh := start(t, srv)
	for _, factor := range []string{"totp", "webauthn", "lookup_secret"} {
		t.Run("SecondFactor_"+factor, func(t *testing.T) {
			_, email := mustIdentity(t, srv, identityOpts{secondFactor: factor})
			s := mustSession(t, srv, email)
			token := s.Token
			do(t, "GET", whoamiURL, "", "X-Session-Token: "+token).expect(t, 403, bodyAAL2(srv.Public.URL))
			do(t, "GET", srv.Public.URL+"/sessions", "", "X-Session-Token: "+token).expect(t, 403, bodyAAL2(srv.Public.URL))

			do(t, "GET", aal1.Public.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 200, "")

			// Latchkey has no second-factor method: the session records
			// one as a second-factor login would.
			completeSecondFactor(t, srv, token, factor)
			r := do(t, "GET", fresh.Public.URL+"/sessions/whoami", "", "X-Session-Token: "+token)
			r.expect(t, 200, "")
			if !strings.Contains(r.body, `"authenticator_assurance_level":"aal2"`) {
				t.Fatalf("not aal2 after the second factor: %s", r.body)
			}
		})
	}
	t.Run("NoSecondFactorPassesWithAAL1", func(t *testing.T) {
		_, email := mustIdentity(t, srv, identityOpts{})
		token := mustSession(t, srv, email).Token
		// highest_available and aal1 are satisfied, aal2 is not: a login
		// for aal2 is still offered.
		do(t, "GET", whoamiURL, "", "X-Session-Token: "+token).expect(t, 200, "")
		do(t, "GET", aal1.Public.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 200, "")
		if _, _, err := srv.SDK(false).FrontendAPI.CreateNativeLoginFlow(context.Background()).Aal("aal2").XSessionToken(token).Execute(); err != nil {
			t.Fatalf("an aal1 session without second factor is taken for aal2: %v %s", err, servertest.ErrorText(err))
		}
	})
	t.Run("ComputeAAL", func(t *testing.T) {
		m := func(names ...string) []session.AuthMethod {
			var out []session.AuthMethod
			for _, n := range names {
				out = append(out, session.AuthMethod{Method: n, AAL: session.MethodAAL(n)})
			}
			return out
		}
		cases := []struct {
			methods []session.AuthMethod
			want    string
		}{
			{nil, "aal0"},
			{m("password"), "aal1"},
			{m("code_recovery"), "aal1"},
			{m("totp"), "aal1"},
			{m("password", "totp"), "aal2"},
			{m("link_recovery", "lookup_secret"), "aal2"},
		}
		for _, c := range cases {
			if got := session.ComputeAAL(c.methods); got != c.want {
				t.Errorf("ComputeAAL(%v) = %s, want %s", c.methods, got, c.want)
			}
		}
	})
}

// completeSecondFactor records, in the stored session of token, a
// second factor completed now.
func completeSecondFactor(t *testing.T, srv *servertest.Server, token, factor string) {
	t.Helper()
	ctx := context.Background()
	hash := secret.Hasher{Secrets: [][]byte{[]byte(tokenSecret)}}.Hash(token)
	var raw string
	if err := srv.DB.QueryRow(ctx, `SELECT authentication_methods FROM sessions WHERE token_hash = ?`, hash).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var methods []map[string]any
	if err := json.Unmarshal([]byte(raw), &methods); err != nil {
		t.Fatal(err)
	}
	methods = append(methods, map[string]any{"method": factor, "aal": "aal2", "completed_at": srv.Clock.Now().UTC()})
	b, _ := json.Marshal(methods)
	mustExec(t, srv, `UPDATE sessions SET aal = 'aal2', authentication_methods = ? WHERE token_hash = ?`, string(b), hash)
}

func testCookie(t *testing.T, srv *servertest.Server) {
	_, email := mustIdentity(t, srv, identityOpts{})

	cases := []struct {
		name   string
		env    []string
		expect func(s *ory.Session) []string
		reject []string
	}{
		{"Default", nil,
			func(s *ory.Session) []string {
				return []string{"ory_kratos_session=", "Path=/", "Max-Age=86400", "Expires=" + s.ExpiresAt.Format(http.TimeFormat), "HttpOnly", "SameSite=Lax"}
			},
			[]string{"Secure", "Domain="}},
		{"Configured", []string{"SESSION_COOKIE_NAME=sess", "SESSION_COOKIE_DOMAIN=example.test", "SESSION_COOKIE_PATH=/app", "SESSION_COOKIE_SAME_SITE=Strict", "SESSION_COOKIE_PERSISTENT=true", "SESSION_COOKIE_SECURE=true"},
			func(*ory.Session) []string {
				return []string{"sess=", "Path=/app", "Domain=example.test", "HttpOnly", "Secure", "SameSite=Strict"}
			}, nil},
		{"NotPersistent", []string{"SESSION_COOKIE_PERSISTENT=false"},
			func(*ory.Session) []string { return []string{"HttpOnly"} }, []string{"Max-Age", "Expires"}},
		{"SameSiteNoneNeedsSecure", []string{"SESSION_COOKIE_PERSISTENT=false", "SESSION_COOKIE_SAME_SITE=None"},
			func(*ory.Session) []string { return []string{"SameSite=Lax"} }, []string{"SameSite=None"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			other := srv
			if c.env != nil {
				other = start(t, srv, c.env...)
			}
			s := mustSession(t, other, email)
			h := s.Cookie.Raw // the Set-Cookie line of the login answer
			for _, want := range c.expect(whoami(t, other, s.Token)) {
				if !strings.Contains(h, want) {
					t.Errorf("Set-Cookie %q lacks %q", h, want)
				}
			}
			for _, bad := range c.reject {
				if strings.Contains(h, bad) {
					t.Errorf("Set-Cookie %q has %q", h, bad)
				}
			}
			if strings.Contains(h, s.Token) || strings.Contains(h, strings.TrimPrefix(s.Token, "ory_st_")) {
				t.Errorf("cookie shows the token in plain text: %s", h)
			}
		})
	}

	t.Run("ClearCookie", func(t *testing.T) {
		s := mustSession(t, srv, email)
		r := do(t, "GET", srv.Public.URL+"/self-service/logout?token="+logoutToken(t, srv, s), "", "Cookie: "+cookieHeader(s), "Accept: application/json")
		r.expect(t, 204, "")
		h := setCookie(r.Response, "ory_kratos_session")
		// Kratos (gorilla/sessions with MaxAge -1) writes a non-empty value,
		// Expires at 1970-01-01 00:00:01 and Max-Age=0.
		clear := regexp.MustCompile(`^ory_kratos_session=([^;]+); Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; HttpOnly; SameSite=Lax$`)
		m := clear.FindStringSubmatch(h)
		if m == nil {
			t.Fatalf("clear cookie %q, want Kratos's shape", h)
		}
		if strings.Contains(h, s.Token) || strings.Contains(h, strings.TrimPrefix(s.Token, "ory_st_")) {
			t.Fatalf("the clearing cookie carries the token: %s", h)
		}
		// A client that keeps the clearing value anyway has no session, and
		// a session token sent beside it still counts.
		do(t, "GET", srv.Public.URL+"/sessions/whoami", "", "Cookie: ory_kratos_session="+m[1]).expect(t, 401, bodyWhoami401)
		other := mustSession(t, srv, email)
		do(t, "GET", srv.Public.URL+"/sessions/whoami", "", "Cookie: ory_kratos_session="+m[1], "Authorization: Bearer "+other.Token).expect(t, 200, "")
	})

	t.Run("CookieFromAnotherSecretIsRejected", func(t *testing.T) {
		other := start(t, srv, `SECRETS_COOKIE=["someone-elses-cookie-secret-here"]`)
		s := mustSession(t, other, email)
		do(t, "GET", srv.Public.URL+"/sessions/whoami", "", "Cookie: "+cookieHeader(s)).expect(t, 401, bodyWhoami401)
	})
}

func testRotation(t *testing.T, srv *servertest.Server) {
	_, email := mustIdentity(t, srv, identityOpts{})
	s := mustSession(t, srv, email)
	token, cookie := s.Token, cookieHeader(s)
	// A session whose logout token, made with the old secret, is spent below.
	loggingOut := mustSession(t, srv, email)
	oldLogoutToken := logoutToken(t, srv, loggingOut)

	const newSecret, newCookie = "the-new-secret-of-32-characters!", "the-new-cookie-secret-32-chars!!"
	rotated := start(t, srv, `SECRETS_DEFAULT=["`+newSecret+`","`+tokenSecret+`"]`, `SECRETS_COOKIE=["`+newCookie+`","`+cookieSecret+`"]`)

	t.Run("OldTokenStillFound", func(t *testing.T) {
		do(t, "GET", rotated.Public.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 200, "")
	})
	t.Run("OldCookieStillAccepted", func(t *testing.T) {
		do(t, "GET", rotated.Public.URL+"/sessions/whoami", "", "Cookie: "+cookie).expect(t, 200, "")
	})
	t.Run("OldLogoutTokenStillValid", func(t *testing.T) {
		do(t, "GET", rotated.Public.URL+"/self-service/logout?token="+oldLogoutToken, "", "Cookie: "+cookieHeader(loggingOut), "Accept: application/json").expect(t, 204, "")
	})
	t.Run("NewSessionsUseTheNewSecret", func(t *testing.T) {
		fresh := mustSession(t, rotated, email).Token
		var n int
		if err := srv.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM sessions WHERE token_hash = ?`,
			secret.Hasher{Secrets: [][]byte{[]byte(newSecret)}}.Hash(fresh)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("new session not hashed with the new secret: %d %v", n, err)
		}
	})
	t.Run("RemovedSecretEndsTheSession", func(t *testing.T) {
		removed := start(t, srv, `SECRETS_DEFAULT=["`+newSecret+`"]`, `SECRETS_COOKIE=["`+newCookie+`"]`)
		do(t, "GET", removed.Public.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 401, bodyWhoami401)
	})
}

func testLogout(t *testing.T, srv *servertest.Server) {
	_, email := mustIdentity(t, srv, identityOpts{})
	ctx := context.Background()
	pub := srv.Public.URL

	browser := func(t *testing.T) (servertest.Session, string, string) {
		s := mustSession(t, srv, email)
		return s, s.Token, cookieHeader(s)
	}

	t.Run("BrowserThroughTheSDK", func(t *testing.T) {
		_, token, cookie := browser(t)
		flow, _, err := srv.SDK(false).FrontendAPI.CreateBrowserLogoutFlow(ctx).Cookie(cookie).Execute()
		if err != nil {
			t.Fatalf("CreateBrowserLogoutFlow: %v", err)
		}
		if !regexp.MustCompile(`^ory_lo_[A-Za-z0-9]{32}$`).MatchString(flow.LogoutToken) {
			t.Fatalf("logout token %q", flow.LogoutToken)
		}
		if flow.LogoutUrl != pub+"/self-service/logout?token="+flow.LogoutToken {
			t.Fatalf("logout url %q", flow.LogoutUrl)
		}
		r := do(t, "GET", flow.LogoutUrl, "", "Cookie: "+cookie, "Accept: text/html")
		r.expect(t, 303, "")
		if loc := r.Header.Get("Location"); loc != logoutReturn {
			t.Fatalf("Location %q", loc)
		}
		if sc := setCookie(r.Response, "ory_kratos_session"); !strings.Contains(sc, "; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0;") {
			t.Fatalf("cookie not cleared: %q", sc)
		}
		do(t, "GET", pub+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 401, bodyWhoami401)
	})

	t.Run("ReturnTo", func(t *testing.T) {
		_, _, cookie := browser(t)
		r := do(t, "GET", pub+"/self-service/logout/browser?return_to=https://app.example/after", "", "Cookie: "+cookie, "Accept: application/json")
		r.expect(t, 200, "")
		u := jsonOf(t, r.body).(map[string]any)["logout_url"].(string)
		if !strings.HasSuffix(u, "&return_to=https%3A%2F%2Fapp.example%2Fafter") {
			t.Fatalf("logout_url %q", u)
		}
		r = do(t, "GET", u, "", "Cookie: "+cookie)
		r.expect(t, 303, "")
		if r.Header.Get("Location") != "https://app.example/after" {
			t.Fatalf("Location %q", r.Header.Get("Location"))
		}
	})

	t.Run("ForeignReturnToIsRejectedAndKeepsTheSession", func(t *testing.T) {
		s, token, cookie := browser(t)
		u := pub + "/self-service/logout?token=" + logoutToken(t, srv, s) + "&return_to=https://evil.example/"
		r := do(t, "GET", u, "", "Cookie: "+cookie, "Accept: application/json")
		r.expect(t, 400, "")
		if !strings.Contains(r.body, `"id":"self_service_flow_return_to_forbidden"`) {
			t.Fatalf("body %s", r.body)
		}
		do(t, "GET", pub+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 200, "")
	})

	t.Run("SPAGets204", func(t *testing.T) {
		s, token, cookie := browser(t)
		r := do(t, "GET", pub+"/self-service/logout?token="+logoutToken(t, srv, s), "", "Cookie: "+cookie, "Accept: application/json")
		r.expect(t, 204, "")
		do(t, "GET", pub+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 401, bodyWhoami401)
	})

	t.Run("LogoutTokenOfAnotherSession", func(t *testing.T) {
		_, _, cookie := browser(t)
		other, _, _ := browser(t)
		r := do(t, "GET", pub+"/self-service/logout?token="+logoutToken(t, srv, other), "", "Cookie: "+cookie, "Accept: application/json")
		r.expect(t, 403, bodyLogoutMiss)
	})

	t.Run("MissingToken", func(t *testing.T) {
		_, _, cookie := browser(t)
		do(t, "GET", pub+"/self-service/logout", "", "Cookie: "+cookie, "Accept: application/json").
			expect(t, 400, `{"error":{"code":400,"status":"Bad Request","reason":"Please include a token in the URL query.","message":"The request was malformed or contained invalid parameters"}}`)
	})

	t.Run("NoSession", func(t *testing.T) {
		do(t, "GET", pub+"/self-service/logout/browser", "", "Accept: application/json").expect(t, 401, bodyInactive)
		_, _, err := srv.SDK(false).FrontendAPI.CreateBrowserLogoutFlow(ctx).Execute()
		var apiErr *ory.GenericOpenAPIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("SDK without a session: %v", err)
		}
		r := do(t, "GET", pub+"/self-service/logout/browser", "", "Accept: text/html")
		r.expect(t, 303, "")
		loc := r.Header.Get("Location")
		if !strings.HasPrefix(loc, errorUI+"?id=") {
			t.Fatalf("Location %q", loc)
		}
		id := strings.TrimPrefix(loc, errorUI+"?id=")
		var n int
		if err := srv.DB.QueryRow(ctx, `SELECT COUNT(*) FROM selfservice_errors WHERE id = ?`, id).Scan(&n); err != nil || n != 1 {
			t.Fatalf("browser error not stored: %d %v", n, err)
		}
	})

	t.Run("Native", func(t *testing.T) {
		token := mustSession(t, srv, email).Token
		res, err := srv.SDK(false).FrontendAPI.PerformNativeLogout(ctx).PerformNativeLogoutBody(ory.PerformNativeLogoutBody{SessionToken: token}).Execute()
		if err != nil || res.StatusCode != 204 {
			t.Fatalf("PerformNativeLogout: %v %v", res, err)
		}
		do(t, "GET", pub+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 401, bodyWhoami401)
		// Already revoked: still 204.
		do(t, "DELETE", pub+"/self-service/logout/api", `{"session_token":"`+token+`"}`, "Content-Type: application/json").expect(t, 204, "")
		do(t, "DELETE", pub+"/self-service/logout/api", `{"session_token":"ory_st_unknown"}`, "Content-Type: application/json").expect(t, 403, bodyBadToken)
		do(t, "DELETE", pub+"/self-service/logout/api", `{"session_token":`, "Content-Type: application/json").expect(t, 400, "")
		do(t, "DELETE", pub+"/self-service/logout/api", `{}`, "Content-Type: application/json").expect(t, 400, "")
	})
}

func testMySessions(t *testing.T, srv *servertest.Server) {
	ctx := context.Background()
	pub := srv.Public.URL
	sdk := srv.SDK(false)
	_, email := mustIdentity(t, srv, identityOpts{})
	current := mustSession(t, srv, email)
	token := current.Token
	var others []servertest.Session
	for i := 0; i < 3; i++ {
		srv.Clock.Advance(time.Second)
		others = append(others, mustSession(t, srv, email))
	}
	revoked := mustSession(t, srv, email)
	revoke(t, srv, revoked.ID)
	_, strangerEmail := mustIdentity(t, srv, identityOpts{})
	foreign := mustSession(t, srv, strangerEmail)

	t.Run("ListOthersNewestFirst", func(t *testing.T) {
		list, res, err := sdk.FrontendAPI.ListMySessions(ctx).XSessionToken(token).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || list[0].Id != others[2].ID || list[2].Id != others[0].ID {
			t.Fatalf("listed %d sessions: %+v", len(list), list)
		}
		if res.Header.Get("X-Total-Count") != "3" {
			t.Fatalf("X-Total-Count %q", res.Header.Get("X-Total-Count"))
		}
	})
	t.Run("Pagination", func(t *testing.T) {
		list, res, err := sdk.FrontendAPI.ListMySessions(ctx).XSessionToken(token).PerPage(2).Page(1).Execute()
		if err != nil || len(list) != 1 || list[0].Id != others[0].ID {
			t.Fatalf("page 1: %v %+v", err, list)
		}
		if !strings.Contains(res.Header.Get("Link"), `rel="prev"`) {
			t.Fatalf("Link %q", res.Header.Get("Link"))
		}
	})
	t.Run("Unauthorized", func(t *testing.T) {
		do(t, "GET", pub+"/sessions", "").expect(t, 401, bodyCookie401)
		do(t, "DELETE", pub+"/sessions", "").expect(t, 401, bodyCookie401)
		do(t, "DELETE", pub+"/sessions/"+others[0].ID, "").expect(t, 401, bodyCookie401)
	})
	t.Run("RevokeOne", func(t *testing.T) {
		do(t, "DELETE", pub+"/sessions/"+current.ID, "", "X-Session-Token: "+token).expect(t, 400, bodyCurrent)
		do(t, "DELETE", pub+"/sessions/"+foreign.ID, "", "X-Session-Token: "+token).expect(t, 404, bodyNotFound)
		do(t, "DELETE", pub+"/sessions/not-a-uuid", "", "X-Session-Token: "+token).expect(t, 400, "")
		res, err := sdk.FrontendAPI.DisableMySession(ctx, others[0].ID).XSessionToken(token).Execute()
		if err != nil || res.StatusCode != 204 {
			t.Fatalf("DisableMySession: %v %v", res, err)
		}
		if adminSession(t, srv, others[0].ID).GetActive() {
			t.Fatal("session still active")
		}
	})
	t.Run("RevokeAllOthers", func(t *testing.T) {
		n, _, err := sdk.FrontendAPI.DisableMyOtherSessions(ctx).XSessionToken(token).Execute()
		if err != nil || n.GetCount() != 2 {
			t.Fatalf("DisableMyOtherSessions: %+v %v", n, err)
		}
		do(t, "GET", pub+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 200, "")
		if !adminSession(t, srv, foreign.ID).GetActive() {
			t.Fatal("another identity's session was revoked")
		}
		list, _, _ := sdk.FrontendAPI.ListMySessions(ctx).XSessionToken(token).Execute()
		if len(list) != 0 {
			t.Fatalf("still %d other sessions", len(list))
		}
	})
}

func testAdminIdentitySessions(t *testing.T, srv *servertest.Server) {
	ctx := context.Background()
	adm := srv.Admin.URL
	sdk := srv.SDK(false)
	ident, email := mustIdentity(t, srv, identityOpts{})
	var all []servertest.Session
	for i := 0; i < 5; i++ {
		srv.Clock.Advance(time.Second)
		all = append(all, mustSession(t, srv, email))
	}
	revoke(t, srv, all[0].ID)
	base := adm + "/admin/identities/" + ident.Id + "/sessions"

	t.Run("ListThroughTheSDK", func(t *testing.T) {
		list, res, err := sdk.IdentityAPI.ListIdentitySessions(ctx, ident.Id).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 5 || list[0].Id != all[4].ID {
			t.Fatalf("list %+v", list)
		}
		if res.Header.Get("X-Total-Count") != "5" || res.Header.Get("Cache-Control") == "" {
			t.Fatalf("headers %v", res.Header)
		}
		if list[0].Identity == nil || list[0].Identity.SchemaUrl != "" || len(list[0].Devices) != 1 {
			t.Fatalf("identity/devices %+v", list[0])
		}
	})
	t.Run("ReducedIdentity", func(t *testing.T) {
		r := do(t, "GET", base, "")
		r.expect(t, 200, "")
		if strings.Contains(r.body, "recovery_addresses") || strings.Contains(r.body, "verifiable_addresses") || !strings.Contains(r.body, `"schema_url":""`) {
			t.Fatalf("identity is not the reduced view: %s", r.body)
		}
	})
	t.Run("ActiveFilter", func(t *testing.T) {
		active, _, err := sdk.IdentityAPI.ListIdentitySessions(ctx, ident.Id).Active(true).Execute()
		if err != nil || len(active) != 4 {
			t.Fatalf("active=true: %d %v", len(active), err)
		}
		inactive, _, err := sdk.IdentityAPI.ListIdentitySessions(ctx, ident.Id).Active(false).Execute()
		if err != nil || len(inactive) != 1 || inactive[0].Id != all[0].ID || inactive[0].GetActive() {
			t.Fatalf("active=false: %+v %v", inactive, err)
		}
		// Expired sessions count as inactive.
		srv.Clock.Advance(25 * time.Hour)
		expired, _, _ := sdk.IdentityAPI.ListIdentitySessions(ctx, ident.Id).Active(false).Execute()
		srv.Clock.Advance(-25 * time.Hour)
		if len(expired) != 5 {
			t.Fatalf("active=false after expiry: %d", len(expired))
		}
	})
	t.Run("Pagination", func(t *testing.T) {
		cases := []struct {
			query string
			ids   []servertest.Session
			rels  []string
		}{
			{"?per_page=2", all[3:5], []string{"first", "next", "last"}},
			{"?per_page=2&page=1", all[1:3], []string{"first", "prev", "next", "last"}},
			{"?per_page=2&page=2", all[0:1], []string{"first", "prev", "last"}},
			{"?page_size=3", all[2:5], []string{"first", "next", "last"}},
		}
		for _, c := range cases {
			t.Run(c.query, func(t *testing.T) {
				r := do(t, "GET", base+c.query, "")
				r.expect(t, 200, "")
				list := jsonOf(t, r.body).([]any)
				if len(list) != len(c.ids) {
					t.Fatalf("got %d sessions, want %d", len(list), len(c.ids))
				}
				for i, s := range list {
					want := c.ids[len(c.ids)-1-i].ID
					if s.(map[string]any)["id"] != want {
						t.Fatalf("item %d is %v, want %s", i, s.(map[string]any)["id"], want)
					}
				}
				if r.Header.Get("X-Total-Count") != "5" {
					t.Fatalf("X-Total-Count %q", r.Header.Get("X-Total-Count"))
				}
				link := r.Header.Get("Link")
				for _, rel := range c.rels {
					if !strings.Contains(link, `rel="`+rel+`"`) {
						t.Fatalf("Link %q lacks %s", link, rel)
					}
				}
				for _, p := range []string{"page_size=", "page_token=", "per_page=", "page="} {
					if !strings.Contains(link, p) {
						t.Fatalf("Link %q lacks %s", link, p)
					}
				}
			})
		}
		t.Run("FollowPageTokens", func(t *testing.T) {
			seen := map[string]bool{}
			next := base + "?page_size=2"
			for pages := 0; next != ""; pages++ {
				if pages > 5 {
					t.Fatal("pagination does not end")
				}
				r := do(t, "GET", next, "")
				r.expect(t, 200, "")
				for _, s := range jsonOf(t, r.body).([]any) {
					seen[s.(map[string]any)["id"].(string)] = true
				}
				next = ""
				for _, l := range strings.Split(r.Header.Get("Link"), ",") {
					if strings.HasSuffix(l, `rel="next"`) {
						next = adm + l[strings.Index(l, "<")+1:strings.Index(l, ">")]
					}
				}
			}
			if len(seen) != 5 {
				t.Fatalf("walked %d sessions, want 5", len(seen))
			}
		})
	})
	t.Run("Errors", func(t *testing.T) {
		do(t, "GET", adm+"/admin/identities/nope/sessions", "").expect(t, 400, "")
		do(t, "GET", base+"?active=maybe", "").expect(t, 400, bodyBadActive)
		do(t, "GET", adm+"/admin/identities/"+uuid.NewString()+"/sessions", "").expect(t, 200, "[]")
	})
	t.Run("Delete", func(t *testing.T) {
		res, err := sdk.IdentityAPI.DeleteIdentitySessions(ctx, ident.Id).Execute()
		if err != nil || res.StatusCode != 204 {
			t.Fatalf("DeleteIdentitySessions: %v %v", res, err)
		}
		var n int
		if err := srv.DB.QueryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE identity_id = ?`, ident.Id).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d sessions left (%v)", n, err)
		}
		do(t, "DELETE", base, "").expect(t, 404, bodyNotFound)
		do(t, "DELETE", adm+"/admin/identities/nope/sessions", "").expect(t, 400, "")
	})
}

func testAdminSessions(t *testing.T, srv *servertest.Server) {
	ctx := context.Background()
	adm := srv.Admin.URL
	sdk := srv.SDK(false)
	ident, email := mustIdentity(t, srv, identityOpts{})
	s := mustSession(t, srv, email)

	t.Run("GetWithoutExpand", func(t *testing.T) {
		r := do(t, "GET", adm+"/admin/sessions/"+s.ID, "")
		r.expect(t, 200, "")
		if strings.Contains(r.body, `"identity"`) || strings.Contains(r.body, `"devices"`) {
			t.Fatalf("unexpanded session shows identity or devices: %s", r.body)
		}
	})
	t.Run("GetWithExpandThroughTheSDK", func(t *testing.T) {
		got, _, err := sdk.IdentityAPI.GetSession(ctx, s.ID).Expand([]string{"identity", "devices"}).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if got.Identity == nil || got.Identity.Id != ident.Id || len(got.Devices) != 1 {
			t.Fatalf("expanded session %+v", got)
		}
	})
	t.Run("GetErrors", func(t *testing.T) {
		do(t, "GET", adm+"/admin/sessions/"+s.ID+"?expand=everything", "").expect(t, 400, bodyBadExpand)
		do(t, "GET", adm+"/admin/sessions/"+uuid.NewString(), "").expect(t, 404, bodyNotFound)
		do(t, "GET", adm+"/admin/sessions/xyz", "").expect(t, 400, "")
	})
	t.Run("Disable", func(t *testing.T) {
		victim := mustSession(t, srv, email)
		res, err := sdk.IdentityAPI.DisableSession(ctx, victim.ID).Execute()
		if err != nil || res.StatusCode != 204 {
			t.Fatalf("DisableSession: %v %v", res, err)
		}
		do(t, "GET", srv.Public.URL+"/sessions/whoami", "", "X-Session-Token: "+victim.Token).expect(t, 401, bodyWhoami401)
		// Disabling twice is fine (the row stays); an unknown id is 404.
		do(t, "DELETE", adm+"/admin/sessions/"+victim.ID, "").expect(t, 204, "")
		do(t, "DELETE", adm+"/admin/sessions/"+uuid.NewString(), "").expect(t, 404, bodyNotFound)
	})
	t.Run("ListKeyset", func(t *testing.T) {
		for i := 0; i < 4; i++ {
			mustSession(t, srv, email)
		}
		var total int
		if err := srv.DB.QueryRow(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&total); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		next := adm + "/admin/sessions?page_size=3&expand=identity"
		for pages := 0; next != ""; pages++ {
			if pages > total {
				t.Fatal("pagination does not end")
			}
			r := do(t, "GET", next, "")
			r.expect(t, 200, "")
			for _, s := range jsonOf(t, r.body).([]any) {
				m := s.(map[string]any)
				if seen[m["id"].(string)] {
					t.Fatalf("session %s listed twice", m["id"])
				}
				if _, ok := m["identity"]; !ok {
					t.Fatalf("expand=identity ignored: %v", m)
				}
				seen[m["id"].(string)] = true
			}
			link := r.Header.Get("Link")
			if !strings.Contains(link, `rel="first"`) {
				t.Fatalf("Link %q", link)
			}
			next = ""
			for _, l := range strings.Split(link, ",") {
				if strings.HasSuffix(l, `rel="next"`) {
					next = adm + l[strings.Index(l, "<")+1:strings.Index(l, ">")]
				}
			}
		}
		if len(seen) != total {
			t.Fatalf("walked %d sessions, want %d", len(seen), total)
		}
		list, _, err := sdk.IdentityAPI.ListSessions(ctx).Active(false).Execute()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			if s.GetActive() {
				t.Fatalf("active=false listed an active session %s", s.Id)
			}
		}
		do(t, "GET", adm+"/admin/sessions?page_size=abc", "").expect(t, 400, "")
		do(t, "GET", adm+"/admin/sessions?page_token=bm9wZQ", "").expect(t, 400, "")
		do(t, "GET", adm+"/admin/sessions?active=x", "").expect(t, 400, bodyBadActive)
	})
}

func testExtend(t *testing.T, srv *servertest.Server) {
	ctx := context.Background()
	// Sessions may be extended in their last hour only.
	ext := start(t, srv, "SESSION_EARLIEST_POSSIBLE_EXTEND=1h")
	_, email := mustIdentity(t, ext, identityOpts{})
	s := mustSession(t, ext, email)
	cookie := cookieHeader(s)
	expiresAt := *whoami(t, ext, s.Token).ExpiresAt
	authenticatedAt := *whoami(t, ext, s.Token).AuthenticatedAt
	pubWhoami := ext.Public.URL + "/sessions/whoami"

	t.Run("TooEarlyIsASilentNoOp", func(t *testing.T) {
		got, res, err := ext.SDK(false).IdentityAPI.ExtendSession(ctx, s.ID).Execute()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("ExtendSession: %v %v", res, err)
		}
		if !got.GetExpiresAt().Equal(expiresAt) {
			t.Fatalf("extended too early: %v -> %v", expiresAt, got.GetExpiresAt())
		}
		r := do(t, "GET", pubWhoami, "", "Cookie: "+cookie)
		r.expect(t, 200, "")
		if r.Header.Get("Set-Cookie") != "" {
			t.Fatalf("whoami re-issued a fresh cookie: %q", r.Header.Get("Set-Cookie"))
		}
	})
	t.Run("InsideTheWindowExtends", func(t *testing.T) {
		ext.Clock.Advance(23 * time.Hour) // expires in exactly the window
		got, _, err := ext.SDK(false).IdentityAPI.ExtendSession(ctx, s.ID).Execute()
		if err != nil {
			t.Fatal(err)
		}
		want := ext.Clock.Now().Add(24 * time.Hour).Truncate(time.Microsecond)
		if !got.GetExpiresAt().Equal(want) {
			t.Fatalf("expires_at %v, want %v", got.GetExpiresAt(), want)
		}
		if !got.GetAuthenticatedAt().Equal(authenticatedAt) {
			t.Fatal("extend changed authenticated_at")
		}
	})
	t.Run("WhoamiRefreshesTheStaleCookie", func(t *testing.T) {
		// A session presented by its token has no cookie to refresh.
		if r := do(t, "GET", pubWhoami, "", "X-Session-Token: "+s.Token); r.Header.Get("Set-Cookie") != "" {
			t.Fatalf("whoami set a cookie for a token: %q", r.Header.Get("Set-Cookie"))
		}
		r := do(t, "GET", pubWhoami, "", "Cookie: "+cookie)
		r.expect(t, 200, "")
		sc := r.Header.Get("Set-Cookie")
		if !strings.HasPrefix(sc, "ory_kratos_session=") || !strings.Contains(sc, "Max-Age=86400") {
			t.Fatalf("cookie not re-issued after extend: %q", sc)
		}
		fresh := sc[:strings.Index(sc, ";")]
		r = do(t, "GET", pubWhoami, "", "Cookie: "+fresh)
		r.expect(t, 200, "")
		if r.Header.Get("Set-Cookie") != "" {
			t.Fatal("the refreshed cookie is refreshed again")
		}
	})
	t.Run("UnknownSession", func(t *testing.T) {
		do(t, "PATCH", ext.Admin.URL+"/admin/sessions/"+uuid.NewString()+"/extend", "").expect(t, 404, bodyNotFound)
		do(t, "PATCH", ext.Admin.URL+"/admin/sessions/nope/extend", "").expect(t, 400, "")
	})
	t.Run("ZeroWindowMeansLifespan", func(t *testing.T) {
		// srv has no earliest_possible_extend: any time in the lifespan.
		_, email := mustIdentity(t, srv, identityOpts{})
		fresh := mustSession(t, srv, email)
		before := *whoami(t, srv, fresh.Token).ExpiresAt
		srv.Clock.Advance(time.Minute)
		got, _, err := srv.SDK(false).IdentityAPI.ExtendSession(ctx, fresh.ID).Execute()
		if err != nil || !got.GetExpiresAt().After(before) {
			t.Fatalf("default window did not extend: %v %v", got, err)
		}
	})
}

func testReauthenticate(t *testing.T, srv *servertest.Server) {
	ctx := context.Background()
	// Settings changes need a session authenticated in the last 15 minutes.
	priv := start(t, srv, "SELFSERVICE_FLOWS_SETTINGS_PRIVILEGED_SESSION_MAX_AGE=15m")
	_, email := mustIdentity(t, priv, identityOpts{})
	s := mustSession(t, priv, email)
	token := s.Token
	if !privileged(t, priv, token) {
		t.Fatal("a fresh session is not privileged")
	}
	priv.Clock.Advance(20 * time.Minute)
	if privileged(t, priv, token) {
		t.Fatal("a 20-minute-old session is privileged for 15 minutes")
	}
	// Sign in again with refresh=true.
	sdk := priv.SDK(false)
	f, _, err := sdk.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).XSessionToken(token).Execute()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sdk.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateLoginFlowBody(
		ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(email, "password", pw))).Execute(); err != nil {
		t.Fatalf("refresh: %v %s", err, servertest.ErrorText(err))
	}
	again := whoami(t, priv, token)
	if again.Id != s.ID || len(again.AuthenticationMethods) != 2 || !again.AuthenticatedAt.Equal(priv.Clock.Now().Truncate(time.Microsecond)) {
		t.Fatalf("after reauthentication: %+v", again)
	}
	if !privileged(t, priv, token) {
		t.Fatal("reauthentication did not reopen the privileged window")
	}

	t.Run("RevokeOthersAndAll", func(t *testing.T) {
		other, otherEmail := mustIdentity(t, srv, identityOpts{})
		keep := mustSession(t, srv, otherEmail)
		mustSession(t, srv, otherEmail)
		mustSession(t, srv, otherEmail)
		n, _, err := srv.SDK(false).FrontendAPI.DisableMyOtherSessions(ctx).XSessionToken(keep.Token).Execute()
		if err != nil || n.GetCount() != 2 {
			t.Fatalf("revoke others = %+v, %v", n, err)
		}
		activeSessions := func() int {
			list, _, err := srv.SDK(false).IdentityAPI.ListIdentitySessions(ctx, other.Id).Active(true).Execute()
			if err != nil {
				t.Fatal(err)
			}
			return len(list)
		}
		if n := activeSessions(); n != 1 {
			t.Fatalf("%d active sessions before revoking all, want 1", n)
		}
		if _, err := srv.SDK(false).IdentityAPI.DeleteIdentitySessions(ctx, other.Id).Execute(); err != nil {
			t.Fatal(err)
		}
		if n := activeSessions(); n != 0 {
			t.Fatalf("%d active sessions after revoking all", n)
		}
		do(t, "DELETE", srv.Admin.URL+"/admin/sessions/"+uuid.NewString(), "").expect(t, 404, bodyNotFound)
	})
}

// privileged reports whether the session of token may change its
// password now. The settings flow refuses a session past
// privileged_session_max_age with session_refresh_required before it
// looks at the password; inside the window, submitting the current
// password is refused by the policy instead (4000039), so the probe
// changes nothing.
func privileged(t *testing.T, srv *servertest.Server, token string) bool {
	t.Helper()
	ctx := context.Background()
	sdk := srv.SDK(false)
	f, _, err := sdk.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(token).Execute()
	if err != nil {
		t.Fatalf("settings flow: %v %s", err, servertest.ErrorText(err))
	}
	_, res, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateSettingsFlowBody(
		ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(ory.NewUpdateSettingsFlowWithPasswordMethod("password", pw))).Execute()
	switch {
	case res != nil && res.StatusCode == http.StatusForbidden && strings.Contains(servertest.ErrorText(err), `"id":"session_refresh_required"`):
		return false
	case res != nil && res.StatusCode == http.StatusBadRequest && strings.Contains(servertest.ErrorText(err), `"id":4000039`):
		return true
	}
	t.Fatalf("settings probe: %v %s", err, servertest.ErrorText(err))
	return false
}
