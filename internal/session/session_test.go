package session_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
	"github.com/latchkey/latchkey/internal/storeerr"
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
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db)
		ctx := context.Background()

		t.Run("Issue", func(t *testing.T) { testIssue(t, e) })
		t.Run("Whoami", func(t *testing.T) { testWhoami(t, e) })
		t.Run("AAL", func(t *testing.T) { testAAL(t, e) })
		t.Run("Cookie", func(t *testing.T) { testCookie(t, e) })
		t.Run("SecretRotation", func(t *testing.T) { testRotation(t, e) })
		t.Run("Logout", func(t *testing.T) { testLogout(t, e) })
		t.Run("MySessions", func(t *testing.T) { testMySessions(t, e) })
		t.Run("AdminIdentitySessions", func(t *testing.T) { testAdminIdentitySessions(t, e) })
		t.Run("AdminSessions", func(t *testing.T) { testAdminSessions(t, e) })
		t.Run("Extend", func(t *testing.T) { testExtend(t, e) })
		t.Run("Reauthenticate", func(t *testing.T) { testReauthenticate(t, e) })

		t.Run("IssueJoinsTheCallersTransaction", func(t *testing.T) {
			ident := MustIdentity(t, db, identityOpts{})
			boom := errors.New("flow update failed")
			var token string
			err := db.InTx(ctx, func(ctx context.Context) error {
				var err error
				_, token, err = e.m.Issue(ctx, ident, session.MethodCodeRecovery, nil)
				if err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
			do(t, "GET", e.pub.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 401, bodyWhoami401)
		})
	})
}

func testIssue(t *testing.T, e *env) {
	ident := MustIdentity(t, e.db, identityOpts{})

	t.Run("TokenFormatAndFields", func(t *testing.T) {
		s, token := e.MustSession(t, ident)
		if !regexp.MustCompile(`^ory_st_[A-Za-z0-9]{32}$`).MatchString(token) {
			t.Fatalf("token %q has the wrong format", token)
		}
		now := e.clock.Now().Truncate(time.Microsecond)
		if !s.AuthenticatedAt.Equal(now) || !s.IssuedAt.Equal(now) || !s.ExpiresAt.Equal(now.Add(24*time.Hour)) {
			t.Fatalf("times: authenticated %v issued %v expires %v", s.AuthenticatedAt, s.IssuedAt, s.ExpiresAt)
		}
		if s.AAL != "aal1" || len(s.AuthenticationMethods) != 1 || s.AuthenticationMethods[0].Method != "password" || s.AuthenticationMethods[0].AAL != "aal1" {
			t.Fatalf("methods %+v aal %s", s.AuthenticationMethods, s.AAL)
		}
		d := s.Devices[0]
		if *d.IPAddress != "127.0.0.1:37170" || *d.UserAgent != "curl/7.88.1" || *d.Location != "" {
			t.Fatalf("device %+v", d)
		}
	})

	t.Run("DatabaseNeverHoldsTheToken", func(t *testing.T) {
		_, token := e.MustSession(t, ident)
		rows, err := e.db.Query(context.Background(), `SELECT * FROM sessions`)
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

	t.Run("DeviceFromProxyHeaders", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("X-Forwarded-For", "203.0.113.7, 10.0.0.1")
		r.Header.Set("Cf-Ipcity", "Berlin")
		r.Header.Set("Cf-Ipcountry", "DE")
		s, _, err := e.m.Issue(context.Background(), ident, session.MethodPassword, r)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Devices[0]
		if *d.IPAddress != "203.0.113.7" || d.UserAgent != nil || *d.Location != "Berlin, DE" {
			t.Fatalf("device ip=%v ua=%v loc=%v", *d.IPAddress, d.UserAgent, *d.Location)
		}
	})

	t.Run("InactiveIdentityIsRefused", func(t *testing.T) {
		inactive := MustIdentity(t, e.db, identityOpts{inactive: true})
		_, _, err := e.m.Issue(context.Background(), inactive, session.MethodPassword, nil)
		he := httpx.AsError(err)
		if he.Code != 401 || he.Reason != "This account was disabled." || he.Message != "identity is disabled" || he.Details["identity_id"] != inactive.ID.String() {
			t.Fatalf("err = %#v", he)
		}
	})
}

func testWhoami(t *testing.T, e *env) {
	ident := MustIdentity(t, e.db, identityOpts{})
	s, token := e.MustSession(t, ident)
	cookie := e.cookieFor(t, s, token)
	whoami := e.pub.URL + "/sessions/whoami"

	t.Run("EachCarrierThroughTheSDK", func(t *testing.T) {
		cases := []struct {
			name string
			req  func() ory.FrontendAPIToSessionRequest
		}{
			{"XSessionToken", func() ory.FrontendAPIToSessionRequest {
				return e.public.FrontendAPI.ToSession(context.Background()).XSessionToken(token)
			}},
			{"Cookie", func() ory.FrontendAPIToSessionRequest {
				return e.public.FrontendAPI.ToSession(context.Background()).Cookie(cookie)
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, res, err := c.req().Execute()
				if err != nil {
					t.Fatalf("ToSession: %v", err)
				}
				if got.Id != s.ID.String() || !got.GetActive() || got.Identity.Id != ident.ID.String() {
					t.Fatalf("session %+v", got)
				}
				if res.Header.Get("X-Kratos-Authenticated-Identity-Id") != ident.ID.String() {
					t.Fatalf("identity header %q", res.Header.Get("X-Kratos-Authenticated-Identity-Id"))
				}
				if got.Identity.SchemaUrl != e.pub.URL+"/schemas/ZGVmYXVsdA" {
					t.Fatalf("schema_url %q", got.Identity.SchemaUrl)
				}
				if len(got.Devices) != 1 || got.Devices[0].GetIpAddress() != "127.0.0.1:37170" {
					t.Fatalf("devices %+v", got.Devices)
				}
			})
		}
		for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
			t.Run("Authorization"+scheme, func(t *testing.T) {
				r := do(t, "GET", whoami, "", "Authorization: "+scheme+" "+token)
				r.expect(t, 200, "")
				if r.Header.Get("Cache-Control") != "private, no-cache, no-store, must-revalidate" {
					t.Fatalf("Cache-Control %q", r.Header.Get("Cache-Control"))
				}
			})
		}
	})

	t.Run("JSONShape", func(t *testing.T) {
		r := do(t, "GET", whoami, "", "X-Session-Token: "+token)
		r.expect(t, 200, "")
		keys := regexp.MustCompile(`^\{"id":"[^"]+","active":true,"expires_at":"[^"]+","authenticated_at":"[^"]+","authenticator_assurance_level":"aal1","authentication_methods":\[\{"method":"password","aal":"aal1","completed_at":"[^"]+"\}\],"issued_at":"[^"]+","identity":\{"id":`)
		if !keys.MatchString(r.body) {
			t.Fatalf("key order or values differ: %s", r.body)
		}
		if strings.Contains(r.body, token) || strings.Contains(r.body, "credentials") || strings.Contains(r.body, "hashed_password") {
			t.Fatalf("whoami leaks a secret: %s", r.body)
		}
		if !strings.Contains(r.body, `"devices":[{"id":"`) || !strings.Contains(r.body, `"ip_address":"127.0.0.1:37170","user_agent":"curl/7.88.1","location":""}]`) {
			t.Fatalf("devices missing: %s", r.body)
		}
		if !strings.Contains(r.body, `"recovery_addresses":[`) {
			t.Fatalf("whoami shows the full public identity: %s", r.body)
		}
	})

	t.Run("AnyMethod", func(t *testing.T) {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			r := do(t, m, whoami, "", "X-Session-Token: "+token)
			if r.StatusCode != 200 {
				t.Fatalf("%s whoami: %d %s", m, r.StatusCode, r.body)
			}
		}
		// DELETE /sessions/whoami is whoami, not "revoke session whoami".
		do(t, "DELETE", whoami, "", "X-Session-Token: "+token).expect(t, 200, "")
	})

	t.Run("Precedence", func(t *testing.T) {
		other, otherToken := e.MustSession(t, ident)
		cases := []struct {
			name    string
			headers []string
			want    string // session id, or "" for 401
		}{
			{"HeaderBeatsCookie", []string{"X-Session-Token: " + otherToken, "Cookie: " + cookie}, other.ID.String()},
			{"BogusHeaderIsNotRescuedByCookie", []string{"X-Session-Token: ory_st_bogus", "Cookie: " + cookie}, ""},
			{"CookieBeatsBearer", []string{"Cookie: " + cookie, "Authorization: Bearer " + otherToken}, s.ID.String()},
			{"BadCookieIsNoCookie", []string{"Cookie: ory_kratos_session=garbage", "Authorization: Bearer " + otherToken}, other.ID.String()},
			{"BearerNeedsExactlyTwoParts", []string{"Authorization: Bearer " + token + " extra"}, ""},
			{"OtherSchemeIgnored", []string{"Authorization: Basic " + token}, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := do(t, "GET", whoami, "", c.headers...)
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
		expired, expiredToken := e.MustSession(t, ident)
		_ = expired
		revoked, revokedToken := e.MustSession(t, ident)
		if err := e.m.Revoke(context.Background(), revoked.ID); err != nil {
			t.Fatal(err)
		}
		disabled := MustIdentity(t, e.db, identityOpts{})
		_, disabledToken := e.MustSession(t, disabled)
		mustExec(t, e.db, `UPDATE identities SET state = 'inactive' WHERE id = ?`, disabled.ID.String())

		// Expire one session by moving the clock past it, then back.
		e.clock.Advance(25 * time.Hour)
		do(t, "GET", whoami, "", "X-Session-Token: "+expiredToken).expect(t, 401, bodyWhoami401)
		e.clock.Advance(-25 * time.Hour)

		tampered := strings.Replace(cookie, "ory_kratos_session=", "ory_kratos_session=A", 1)
		forged := "ory_kratos_session=" + base64.RawURLEncoding.EncodeToString([]byte(token+"|9999999999")) + ".AAAA"
		cases := map[string][]string{
			"NoCredentials":    nil,
			"BogusToken":       {"X-Session-Token: ory_st_bogusbogusbogusbogusbogusbogus"},
			"RevokedSession":   {"X-Session-Token: " + revokedToken},
			"InactiveIdentity": {"X-Session-Token: " + disabledToken},
			"TamperedCookie":   {"Cookie: " + tampered},
			"ForgedCookie":     {"Cookie: " + forged},
			"HugeToken":        {"X-Session-Token: " + strings.Repeat("x", 5000)},
		}
		for name, h := range cases {
			t.Run(name, func(t *testing.T) {
				r := do(t, "GET", whoami, "", h...)
				r.expect(t, 401, bodyWhoami401)
				if r.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
				}
			})
		}
	})

	t.Run("NoWriteOnWhoami", func(t *testing.T) {
		var before time.Time
		if err := e.db.QueryRow(context.Background(), `SELECT updated_at FROM sessions WHERE id = ?`, s.ID.String()).Scan(&before); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		do(t, "GET", whoami, "", "X-Session-Token: "+token).expect(t, 200, "")
		var after time.Time
		if err := e.db.QueryRow(context.Background(), `SELECT updated_at FROM sessions WHERE id = ?`, s.ID.String()).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if !after.Equal(before) {
			t.Fatalf("whoami wrote the session: updated_at %v -> %v", before, after)
		}
	})
}

func testAAL(t *testing.T, e *env) {
	whoami := e.pub.URL + "/sessions/whoami"
	for _, factor := range []string{"totp", "webauthn", "lookup_secret"} {
		t.Run("SecondFactor_"+factor, func(t *testing.T) {
			ident := MustIdentity(t, e.db, identityOpts{secondFactor: factor})
			s, token := e.MustSession(t, ident)
			do(t, "GET", whoami, "", "X-Session-Token: "+token).expect(t, 403, bodyAAL2(e.pub.URL))
			do(t, "GET", e.pub.URL+"/sessions", "", "X-Session-Token: "+token).expect(t, 403, bodyAAL2(e.pub.URL))

			e.m.Config.WhoamiRequiredAAL = "aal1"
			do(t, "GET", whoami, "", "X-Session-Token: "+token).expect(t, 200, "")
			e.m.Config.WhoamiRequiredAAL = ""

			if err := e.m.Reauthenticate(context.Background(), s, factor); err != nil {
				t.Fatal(err)
			}
			r := do(t, "GET", whoami, "", "X-Session-Token: "+token)
			r.expect(t, 200, "")
			if !strings.Contains(r.body, `"authenticator_assurance_level":"aal2"`) {
				t.Fatalf("not aal2 after the second factor: %s", r.body)
			}
		})
	}
	t.Run("NoSecondFactorPassesWithAAL1", func(t *testing.T) {
		ident := MustIdentity(t, e.db, identityOpts{})
		s, _ := e.MustSession(t, ident)
		if !e.m.SatisfiesAAL(s, session.HighestAvailable) || !e.m.SatisfiesAAL(s, "aal1") || e.m.SatisfiesAAL(s, "aal2") {
			t.Fatal("SatisfiesAAL is wrong for an aal1 session without second factor")
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

func testCookie(t *testing.T, e *env) {
	ident := MustIdentity(t, e.db, identityOpts{})
	s, token := e.MustSession(t, ident)

	cases := []struct {
		name   string
		cfg    session.CookieConfig
		expect []string
		reject []string
	}{
		{"Default", session.CookieConfig{Persistent: true},
			[]string{"ory_kratos_session=", "Path=/", "Max-Age=86400", "Expires=" + s.ExpiresAt.Format(http.TimeFormat), "HttpOnly", "SameSite=Lax"},
			[]string{"Secure", "Domain="}},
		{"Configured", session.CookieConfig{Name: "sess", Domain: "example.test", Path: "/app", SameSite: http.SameSiteStrictMode, Persistent: true, Secure: true},
			[]string{"sess=", "Path=/app", "Domain=example.test", "HttpOnly", "Secure", "SameSite=Strict"}, nil},
		{"NotPersistent", session.CookieConfig{Persistent: false},
			[]string{"HttpOnly"}, []string{"Max-Age", "Expires"}},
		{"SameSiteNoneNeedsSecure", session.CookieConfig{SameSite: http.SameSiteNoneMode},
			[]string{"SameSite=Lax"}, []string{"SameSite=None"}},
	}
	saved := e.m.Config.Cookie
	defer func() { e.m.Config.Cookie = saved }()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.m.Config.Cookie = c.cfg
			rec := httptest.NewRecorder()
			e.m.SetCookie(rec, nil, s, token)
			h := rec.Header().Get("Set-Cookie")
			for _, want := range c.expect {
				if !strings.Contains(h, want) {
					t.Errorf("Set-Cookie %q lacks %q", h, want)
				}
			}
			for _, bad := range c.reject {
				if strings.Contains(h, bad) {
					t.Errorf("Set-Cookie %q has %q", h, bad)
				}
			}
			if strings.Contains(h, token) || strings.Contains(h, strings.TrimPrefix(token, "ory_st_")) {
				t.Errorf("cookie shows the token in plain text: %s", h)
			}
		})
	}
	e.m.Config.Cookie = saved

	t.Run("ClearCookie", func(t *testing.T) {
		rec := httptest.NewRecorder()
		e.m.ClearCookie(rec, nil)
		h := rec.Header().Get("Set-Cookie")
		if !strings.HasPrefix(h, "ory_kratos_session=;") || !strings.Contains(h, "Max-Age=0") || !strings.Contains(h, "HttpOnly") {
			// net/http writes MaxAge<0 as "Max-Age=0".
			t.Fatalf("clear cookie %q", h)
		}
	})

	t.Run("CookieFromAnotherSecretIsRejected", func(t *testing.T) {
		other := *e.m
		other.Cookies = secret.Hasher{Secrets: [][]byte{[]byte("someone-elses-cookie-secret-here")}}
		rec := httptest.NewRecorder()
		other.SetCookie(rec, nil, s, token)
		c := rec.Result().Cookies()[0]
		do(t, "GET", e.pub.URL+"/sessions/whoami", "", "Cookie: "+c.Name+"="+c.Value).expect(t, 401, bodyWhoami401)
	})
}

func testRotation(t *testing.T, e *env) {
	ident := MustIdentity(t, e.db, identityOpts{})
	_, token := e.MustSession(t, ident)
	s, _ := e.m.FromRequest(context.Background(), tokenRequest(token))
	cookie := e.cookieFor(t, s, token)
	logoutToken := e.m.LogoutToken(s)

	saved := *e.m
	defer func() { *e.m = saved }()
	newSecret := []byte("the-new-secret-of-32-characters!")
	newCookie := []byte("the-new-cookie-secret-32-chars!!")
	e.m.Tokens = secret.Hasher{Secrets: [][]byte{newSecret, testSecret}}
	e.m.Cookies = secret.Hasher{Secrets: [][]byte{newCookie, saved.Cookies.Secrets[0]}}

	t.Run("OldTokenStillFound", func(t *testing.T) {
		do(t, "GET", e.pub.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 200, "")
	})
	t.Run("OldCookieStillAccepted", func(t *testing.T) {
		do(t, "GET", e.pub.URL+"/sessions/whoami", "", "Cookie: "+cookie).expect(t, 200, "")
	})
	t.Run("OldLogoutTokenStillValid", func(t *testing.T) {
		if !e.m.ValidLogoutToken(s, logoutToken) {
			t.Fatal("logout token of the old secret rejected")
		}
	})
	t.Run("NewSessionsUseTheNewSecret", func(t *testing.T) {
		_, fresh := e.MustSession(t, ident)
		var n int
		if err := e.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM sessions WHERE token_hash = ?`,
			secret.Hasher{Secrets: [][]byte{newSecret}}.Hash(fresh)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("new session not hashed with the new secret: %d %v", n, err)
		}
	})
	t.Run("RemovedSecretEndsTheSession", func(t *testing.T) {
		e.m.Tokens = secret.Hasher{Secrets: [][]byte{newSecret}}
		do(t, "GET", e.pub.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 401, bodyWhoami401)
	})
}

func tokenRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Session-Token", token)
	return r
}

func testLogout(t *testing.T, e *env) {
	ident := MustIdentity(t, e.db, identityOpts{})
	ctx := context.Background()

	browser := func(t *testing.T) (*session.Session, string, string) {
		s, token := e.MustSession(t, ident)
		return s, token, e.cookieFor(t, s, token)
	}

	t.Run("BrowserThroughTheSDK", func(t *testing.T) {
		_, token, cookie := browser(t)
		flow, _, err := e.public.FrontendAPI.CreateBrowserLogoutFlow(ctx).Cookie(cookie).Execute()
		if err != nil {
			t.Fatalf("CreateBrowserLogoutFlow: %v", err)
		}
		if !regexp.MustCompile(`^ory_lo_[A-Za-z0-9]{32}$`).MatchString(flow.LogoutToken) {
			t.Fatalf("logout token %q", flow.LogoutToken)
		}
		if flow.LogoutUrl != e.pub.URL+"/self-service/logout?token="+flow.LogoutToken {
			t.Fatalf("logout url %q", flow.LogoutUrl)
		}
		r := do(t, "GET", flow.LogoutUrl, "", "Cookie: "+cookie, "Accept: text/html")
		r.expect(t, 303, "")
		if loc := r.Header.Get("Location"); loc != "https://app.example/bye" {
			t.Fatalf("Location %q", loc)
		}
		if sc := r.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, "ory_kratos_session=;") || !strings.Contains(sc, "Max-Age=0") {
			t.Fatalf("cookie not cleared: %q", sc)
		}
		do(t, "GET", e.pub.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 401, bodyWhoami401)
	})

	t.Run("ReturnTo", func(t *testing.T) {
		_, _, cookie := browser(t)
		r := do(t, "GET", e.pub.URL+"/self-service/logout/browser?return_to=https://app.example/after", "", "Cookie: "+cookie, "Accept: application/json")
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
		u := e.pub.URL + "/self-service/logout?token=" + e.m.LogoutToken(s) + "&return_to=https://evil.example/"
		r := do(t, "GET", u, "", "Cookie: "+cookie, "Accept: application/json")
		r.expect(t, 400, "")
		if !strings.Contains(r.body, `"id":"self_service_flow_return_to_forbidden"`) {
			t.Fatalf("body %s", r.body)
		}
		do(t, "GET", e.pub.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 200, "")
	})

	t.Run("SPAGets204", func(t *testing.T) {
		s, token, cookie := browser(t)
		r := do(t, "GET", e.pub.URL+"/self-service/logout?token="+e.m.LogoutToken(s), "", "Cookie: "+cookie, "Accept: application/json")
		r.expect(t, 204, "")
		do(t, "GET", e.pub.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 401, bodyWhoami401)
	})

	t.Run("LogoutTokenOfAnotherSession", func(t *testing.T) {
		_, _, cookie := browser(t)
		other, _, _ := browser(t)
		r := do(t, "GET", e.pub.URL+"/self-service/logout?token="+e.m.LogoutToken(other), "", "Cookie: "+cookie, "Accept: application/json")
		r.expect(t, 403, bodyLogoutMiss)
	})

	t.Run("MissingToken", func(t *testing.T) {
		_, _, cookie := browser(t)
		do(t, "GET", e.pub.URL+"/self-service/logout", "", "Cookie: "+cookie, "Accept: application/json").
			expect(t, 400, `{"error":{"code":400,"status":"Bad Request","reason":"Please include a token in the URL query.","message":"The request was malformed or contained invalid parameters"}}`)
	})

	t.Run("NoSession", func(t *testing.T) {
		do(t, "GET", e.pub.URL+"/self-service/logout/browser", "", "Accept: application/json").expect(t, 401, bodyInactive)
		_, _, err := e.public.FrontendAPI.CreateBrowserLogoutFlow(ctx).Execute()
		var apiErr *ory.GenericOpenAPIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("SDK without a session: %v", err)
		}
		r := do(t, "GET", e.pub.URL+"/self-service/logout/browser", "", "Accept: text/html")
		r.expect(t, 303, "")
		loc := r.Header.Get("Location")
		if !strings.HasPrefix(loc, e.errorUI+"?id=") {
			t.Fatalf("Location %q", loc)
		}
		id := strings.TrimPrefix(loc, e.errorUI+"?id=")
		var n int
		if err := e.db.QueryRow(ctx, `SELECT COUNT(*) FROM selfservice_errors WHERE id = ?`, id).Scan(&n); err != nil || n != 1 {
			t.Fatalf("browser error not stored: %d %v", n, err)
		}
	})

	t.Run("Native", func(t *testing.T) {
		_, token := e.MustSession(t, ident)
		res, err := e.public.FrontendAPI.PerformNativeLogout(ctx).PerformNativeLogoutBody(ory.PerformNativeLogoutBody{SessionToken: token}).Execute()
		if err != nil || res.StatusCode != 204 {
			t.Fatalf("PerformNativeLogout: %v %v", res, err)
		}
		do(t, "GET", e.pub.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 401, bodyWhoami401)
		// Already revoked: still 204.
		do(t, "DELETE", e.pub.URL+"/self-service/logout/api", `{"session_token":"`+token+`"}`, "Content-Type: application/json").expect(t, 204, "")
		do(t, "DELETE", e.pub.URL+"/self-service/logout/api", `{"session_token":"ory_st_unknown"}`, "Content-Type: application/json").expect(t, 403, bodyBadToken)
		do(t, "DELETE", e.pub.URL+"/self-service/logout/api", `{"session_token":`, "Content-Type: application/json").expect(t, 400, "")
		do(t, "DELETE", e.pub.URL+"/self-service/logout/api", `{}`, "Content-Type: application/json").expect(t, 400, "")
	})
}

func testMySessions(t *testing.T, e *env) {
	ctx := context.Background()
	ident := MustIdentity(t, e.db, identityOpts{})
	current, token := e.MustSession(t, ident)
	var others []*session.Session
	for i := 0; i < 3; i++ {
		e.clock.Advance(time.Second)
		s, _ := e.MustSession(t, ident)
		others = append(others, s)
	}
	revoked, _ := e.MustSession(t, ident)
	if err := e.m.Revoke(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	stranger := MustIdentity(t, e.db, identityOpts{})
	foreign, _ := e.MustSession(t, stranger)

	t.Run("ListOthersNewestFirst", func(t *testing.T) {
		list, res, err := e.public.FrontendAPI.ListMySessions(ctx).XSessionToken(token).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || list[0].Id != others[2].ID.String() || list[2].Id != others[0].ID.String() {
			t.Fatalf("listed %d sessions: %+v", len(list), list)
		}
		if res.Header.Get("X-Total-Count") != "3" {
			t.Fatalf("X-Total-Count %q", res.Header.Get("X-Total-Count"))
		}
	})
	t.Run("Pagination", func(t *testing.T) {
		list, res, err := e.public.FrontendAPI.ListMySessions(ctx).XSessionToken(token).PerPage(2).Page(1).Execute()
		if err != nil || len(list) != 1 || list[0].Id != others[0].ID.String() {
			t.Fatalf("page 1: %v %+v", err, list)
		}
		if !strings.Contains(res.Header.Get("Link"), `rel="prev"`) {
			t.Fatalf("Link %q", res.Header.Get("Link"))
		}
	})
	t.Run("Unauthorized", func(t *testing.T) {
		do(t, "GET", e.pub.URL+"/sessions", "").expect(t, 401, bodyCookie401)
		do(t, "DELETE", e.pub.URL+"/sessions", "").expect(t, 401, bodyCookie401)
		do(t, "DELETE", e.pub.URL+"/sessions/"+others[0].ID.String(), "").expect(t, 401, bodyCookie401)
	})
	t.Run("RevokeOne", func(t *testing.T) {
		do(t, "DELETE", e.pub.URL+"/sessions/"+current.ID.String(), "", "X-Session-Token: "+token).expect(t, 400, bodyCurrent)
		do(t, "DELETE", e.pub.URL+"/sessions/"+foreign.ID.String(), "", "X-Session-Token: "+token).expect(t, 404, bodyNotFound)
		do(t, "DELETE", e.pub.URL+"/sessions/not-a-uuid", "", "X-Session-Token: "+token).expect(t, 400, "")
		res, err := e.public.FrontendAPI.DisableMySession(ctx, others[0].ID.String()).XSessionToken(token).Execute()
		if err != nil || res.StatusCode != 204 {
			t.Fatalf("DisableMySession: %v %v", res, err)
		}
		got, _ := e.m.Get(ctx, others[0].ID)
		if got.Active {
			t.Fatal("session still active")
		}
	})
	t.Run("RevokeAllOthers", func(t *testing.T) {
		n, _, err := e.public.FrontendAPI.DisableMyOtherSessions(ctx).XSessionToken(token).Execute()
		if err != nil || n.GetCount() != 2 {
			t.Fatalf("DisableMyOtherSessions: %+v %v", n, err)
		}
		do(t, "GET", e.pub.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 200, "")
		if got, _ := e.m.Get(ctx, foreign.ID); !got.Active {
			t.Fatal("another identity's session was revoked")
		}
		list, _, _ := e.public.FrontendAPI.ListMySessions(ctx).XSessionToken(token).Execute()
		if len(list) != 0 {
			t.Fatalf("still %d other sessions", len(list))
		}
	})
}

func testAdminIdentitySessions(t *testing.T, e *env) {
	ctx := context.Background()
	ident := MustIdentity(t, e.db, identityOpts{})
	var all []*session.Session
	for i := 0; i < 5; i++ {
		e.clock.Advance(time.Second)
		s, _ := e.MustSession(t, ident)
		all = append(all, s)
	}
	if err := e.m.Revoke(ctx, all[0].ID); err != nil {
		t.Fatal(err)
	}
	base := e.adm.URL + "/admin/identities/" + ident.ID.String() + "/sessions"

	t.Run("ListThroughTheSDK", func(t *testing.T) {
		list, res, err := e.admin.IdentityAPI.ListIdentitySessions(ctx, ident.ID.String()).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 5 || list[0].Id != all[4].ID.String() {
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
		e.clock.Advance(0)
		active, _, err := e.admin.IdentityAPI.ListIdentitySessions(ctx, ident.ID.String()).Active(true).Execute()
		if err != nil || len(active) != 4 {
			t.Fatalf("active=true: %d %v", len(active), err)
		}
		inactive, _, err := e.admin.IdentityAPI.ListIdentitySessions(ctx, ident.ID.String()).Active(false).Execute()
		if err != nil || len(inactive) != 1 || inactive[0].Id != all[0].ID.String() || inactive[0].GetActive() {
			t.Fatalf("active=false: %+v %v", inactive, err)
		}
		// Expired sessions count as inactive.
		e.clock.Advance(25 * time.Hour)
		expired, _, _ := e.admin.IdentityAPI.ListIdentitySessions(ctx, ident.ID.String()).Active(false).Execute()
		e.clock.Advance(-25 * time.Hour)
		if len(expired) != 5 {
			t.Fatalf("active=false after expiry: %d", len(expired))
		}
	})
	t.Run("Pagination", func(t *testing.T) {
		cases := []struct {
			query string
			ids   []*session.Session
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
					want := c.ids[len(c.ids)-1-i].ID.String()
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
						next = e.adm.URL + l[strings.Index(l, "<")+1:strings.Index(l, ">")]
					}
				}
			}
			if len(seen) != 5 {
				t.Fatalf("walked %d sessions, want 5", len(seen))
			}
		})
	})
	t.Run("Errors", func(t *testing.T) {
		do(t, "GET", e.adm.URL+"/admin/identities/nope/sessions", "").expect(t, 400, "")
		do(t, "GET", base+"?active=maybe", "").expect(t, 400, bodyBadActive)
		do(t, "GET", e.adm.URL+"/admin/identities/"+uuid.NewString()+"/sessions", "").expect(t, 200, "[]")
	})
	t.Run("Delete", func(t *testing.T) {
		res, err := e.admin.IdentityAPI.DeleteIdentitySessions(ctx, ident.ID.String()).Execute()
		if err != nil || res.StatusCode != 204 {
			t.Fatalf("DeleteIdentitySessions: %v %v", res, err)
		}
		var n int
		if err := e.db.QueryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE identity_id = ?`, ident.ID.String()).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d sessions left (%v)", n, err)
		}
		do(t, "DELETE", base, "").expect(t, 404, bodyNotFound)
		do(t, "DELETE", e.adm.URL+"/admin/identities/nope/sessions", "").expect(t, 400, "")
	})
}

func testAdminSessions(t *testing.T, e *env) {
	ctx := context.Background()
	ident := MustIdentity(t, e.db, identityOpts{})
	s, _ := e.MustSession(t, ident)

	t.Run("GetWithoutExpand", func(t *testing.T) {
		r := do(t, "GET", e.adm.URL+"/admin/sessions/"+s.ID.String(), "")
		r.expect(t, 200, "")
		if strings.Contains(r.body, `"identity"`) || strings.Contains(r.body, `"devices"`) {
			t.Fatalf("unexpanded session shows identity or devices: %s", r.body)
		}
	})
	t.Run("GetWithExpandThroughTheSDK", func(t *testing.T) {
		got, _, err := e.admin.IdentityAPI.GetSession(ctx, s.ID.String()).Expand([]string{"identity", "devices"}).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if got.Identity == nil || got.Identity.Id != ident.ID.String() || len(got.Devices) != 1 {
			t.Fatalf("expanded session %+v", got)
		}
	})
	t.Run("GetErrors", func(t *testing.T) {
		do(t, "GET", e.adm.URL+"/admin/sessions/"+s.ID.String()+"?expand=everything", "").expect(t, 400, bodyBadExpand)
		do(t, "GET", e.adm.URL+"/admin/sessions/"+uuid.NewString(), "").expect(t, 404, bodyNotFound)
		do(t, "GET", e.adm.URL+"/admin/sessions/xyz", "").expect(t, 400, "")
	})
	t.Run("Disable", func(t *testing.T) {
		victim, token := e.MustSession(t, ident)
		res, err := e.admin.IdentityAPI.DisableSession(ctx, victim.ID.String()).Execute()
		if err != nil || res.StatusCode != 204 {
			t.Fatalf("DisableSession: %v %v", res, err)
		}
		do(t, "GET", e.pub.URL+"/sessions/whoami", "", "X-Session-Token: "+token).expect(t, 401, bodyWhoami401)
		// Disabling twice is fine (the row stays); an unknown id is 404.
		do(t, "DELETE", e.adm.URL+"/admin/sessions/"+victim.ID.String(), "").expect(t, 204, "")
		do(t, "DELETE", e.adm.URL+"/admin/sessions/"+uuid.NewString(), "").expect(t, 404, bodyNotFound)
	})
	t.Run("ListKeyset", func(t *testing.T) {
		for i := 0; i < 4; i++ {
			e.MustSession(t, ident)
		}
		var total int
		if err := e.db.QueryRow(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&total); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		next := e.adm.URL + "/admin/sessions?page_size=3&expand=identity"
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
					next = e.adm.URL + l[strings.Index(l, "<")+1:strings.Index(l, ">")]
				}
			}
		}
		if len(seen) != total {
			t.Fatalf("walked %d sessions, want %d", len(seen), total)
		}
		list, _, err := e.admin.IdentityAPI.ListSessions(ctx).Active(false).Execute()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			if s.GetActive() {
				t.Fatalf("active=false listed an active session %s", s.Id)
			}
		}
		do(t, "GET", e.adm.URL+"/admin/sessions?page_size=abc", "").expect(t, 400, "")
		do(t, "GET", e.adm.URL+"/admin/sessions?page_token=bm9wZQ", "").expect(t, 400, "")
		do(t, "GET", e.adm.URL+"/admin/sessions?active=x", "").expect(t, 400, bodyBadActive)
	})
}

func testExtend(t *testing.T, e *env) {
	ctx := context.Background()
	ident := MustIdentity(t, e.db, identityOpts{})
	s, token := e.MustSession(t, ident)
	cookie := e.cookieFor(t, s, token)
	saved := e.m.Config
	defer func() { e.m.Config = saved }()
	e.m.Config.EarliestPossibleExtend = time.Hour

	t.Run("TooEarlyIsASilentNoOp", func(t *testing.T) {
		got, res, err := e.admin.IdentityAPI.ExtendSession(ctx, s.ID.String()).Execute()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("ExtendSession: %v %v", res, err)
		}
		if !got.GetExpiresAt().Equal(s.ExpiresAt) {
			t.Fatalf("extended too early: %v -> %v", s.ExpiresAt, got.GetExpiresAt())
		}
		r := do(t, "GET", e.pub.URL+"/sessions/whoami", "", "Cookie: "+cookie)
		r.expect(t, 200, "")
		if r.Header.Get("Set-Cookie") != "" {
			t.Fatalf("whoami re-issued a fresh cookie: %q", r.Header.Get("Set-Cookie"))
		}
	})
	t.Run("InsideTheWindowExtends", func(t *testing.T) {
		e.clock.Advance(23 * time.Hour) // expires in exactly the window
		got, _, err := e.admin.IdentityAPI.ExtendSession(ctx, s.ID.String()).Execute()
		if err != nil {
			t.Fatal(err)
		}
		want := e.clock.Now().Add(24 * time.Hour).Truncate(time.Microsecond)
		if !got.GetExpiresAt().Equal(want) {
			t.Fatalf("expires_at %v, want %v", got.GetExpiresAt(), want)
		}
		if !got.GetAuthenticatedAt().Equal(s.AuthenticatedAt) {
			t.Fatal("extend changed authenticated_at")
		}
	})
	t.Run("WhoamiRefreshesTheStaleCookie", func(t *testing.T) {
		r := do(t, "GET", e.pub.URL+"/sessions/whoami", "", "Cookie: "+cookie)
		r.expect(t, 200, "")
		sc := r.Header.Get("Set-Cookie")
		if !strings.HasPrefix(sc, "ory_kratos_session=") || !strings.Contains(sc, "Max-Age=86400") {
			t.Fatalf("cookie not re-issued after extend: %q", sc)
		}
		fresh := sc[:strings.Index(sc, ";")]
		r = do(t, "GET", e.pub.URL+"/sessions/whoami", "", "Cookie: "+fresh)
		r.expect(t, 200, "")
		if r.Header.Get("Set-Cookie") != "" {
			t.Fatal("the refreshed cookie is refreshed again")
		}
	})
	t.Run("UnknownSession", func(t *testing.T) {
		do(t, "PATCH", e.adm.URL+"/admin/sessions/"+uuid.NewString()+"/extend", "").expect(t, 404, bodyNotFound)
		do(t, "PATCH", e.adm.URL+"/admin/sessions/nope/extend", "").expect(t, 400, "")
	})
	t.Run("ZeroWindowMeansLifespan", func(t *testing.T) {
		e.m.Config.EarliestPossibleExtend = 0
		fresh, _ := e.MustSession(t, ident)
		e.clock.Advance(time.Minute)
		got, err := e.m.Extend(ctx, fresh.ID)
		if err != nil || !got.ExpiresAt.After(fresh.ExpiresAt) {
			t.Fatalf("default window did not extend: %v %v", got, err)
		}
	})
}

func testReauthenticate(t *testing.T, e *env) {
	ctx := context.Background()
	ident := MustIdentity(t, e.db, identityOpts{})
	_, token := e.MustSession(t, ident)
	s, err := e.m.FromRequest(ctx, tokenRequest(token))
	if err != nil {
		t.Fatal(err)
	}
	if s.RequestToken() != token || s.Carrier() != session.CarrierHeader {
		t.Fatal("FromRequest does not tell how the session was presented")
	}
	if !e.m.Privileged(s, 15*time.Minute) {
		t.Fatal("a fresh session is not privileged")
	}
	e.clock.Advance(20 * time.Minute)
	if e.m.Privileged(s, 15*time.Minute) {
		t.Fatal("a 20-minute-old session is privileged for 15 minutes")
	}
	id := s.ID
	if err := e.m.Reauthenticate(ctx, s, session.MethodPassword); err != nil {
		t.Fatal(err)
	}
	again, err := e.m.FromRequest(ctx, tokenRequest(token))
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != id || len(again.AuthenticationMethods) != 2 || !again.AuthenticatedAt.Equal(e.clock.Now().Truncate(time.Microsecond)) {
		t.Fatalf("after reauthentication: %+v", again)
	}
	if !e.m.Privileged(again, 15*time.Minute) {
		t.Fatal("reauthentication did not reopen the privileged window")
	}

	t.Run("RevokeOthersAndAll", func(t *testing.T) {
		other := MustIdentity(t, e.db, identityOpts{})
		keep, _ := e.MustSession(t, other)
		e.MustSession(t, other)
		e.MustSession(t, other)
		n, err := e.m.RevokeOthers(ctx, other.ID, keep.ID)
		if err != nil || n != 2 {
			t.Fatalf("RevokeOthers = %d, %v", n, err)
		}
		n, err = e.m.RevokeAll(ctx, other.ID)
		if err != nil || n != 1 {
			t.Fatalf("RevokeAll = %d, %v", n, err)
		}
		if err := e.m.Revoke(ctx, uuid.New()); !errors.Is(err, storeerr.ErrNotFound) {
			t.Fatalf("Revoke(unknown) = %v", err)
		}
	})
}
