package session_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// kratosSession is testdata/kratos-v26.2.0-cookie.json: a browser
// session of Ory Kratos v26.2.0, its cookie and the secret that made it.
type kratosSession struct {
	SecretsCookie   []string  `json:"secrets_cookie"`
	CookieName      string    `json:"cookie_name"`
	CookieValue     string    `json:"cookie_value"`
	WrittenAtUnix   int64     `json:"written_at_unix"`
	SessionToken    string    `json:"session_token"`
	AuthenticatedAt time.Time `json:"session_authenticated_at"`
	ExpiresAt       time.Time `json:"session_expires_at"`
	IdentityEmail   string    `json:"identity_email"`
}

func mustKratosSession(t *testing.T) kratosSession {
	t.Helper()
	b, err := os.ReadFile("testdata/kratos-v26.2.0-cookie.json")
	if err != nil {
		t.Fatal(err)
	}
	var k kratosSession
	if err := json.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

// setClock stops srv's clock at at.
func setClock(srv *servertest.Server, at time.Time) {
	srv.Clock.Freeze()
	srv.Clock.Advance(at.Sub(srv.Clock.Now()))
}

// sessionCookies are the Set-Cookie lines of res for the session cookie,
// in order.
func sessionCookies(res *http.Response) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == servertest.SessionCookieName {
			out = append(out, c)
		}
	}
	return out
}

// A browser signed in to Kratos before the switch presents Kratos's
// session cookie: with Kratos's secrets.cookie configured, Latchkey reads
// it, answers with the imported session and gives the browser the cookie
// in its own format.
func TestKratosSessionCookie(t *testing.T) {
	k := mustKratosSession(t)
	written := time.Unix(k.WrittenAtUnix, 0)
	// Kratos's configuration when it wrote the cookie: its cookie secret
	// and a session lifespan of a year.
	kratosEnv := []string{`SECRETS_COOKIE=["` + k.SecretsCookie[0] + `"]`, "SESSION_LIFESPAN=8760h"}

	servertest.Each(t, options(kratosEnv...), func(t *testing.T, srv *servertest.Server) {
		now := written.Add(time.Hour)
		setClock(srv, now)
		ident := srv.MustCreateIdentity(t, k.IdentityEmail, "")
		id := srv.MustImportSession(t, ident.Id, k.SessionToken, k.AuthenticatedAt, k.ExpiresAt)
		kratosCookie := "Cookie: " + k.CookieName + "=" + k.CookieValue
		pub := srv.Public.URL
		// another starts a server on srv's database with more configuration,
		// its clock at at.
		another := func(t *testing.T, at time.Time, env ...string) *servertest.Server {
			other := start(t, srv, append(kratosEnv, env...)...)
			setClock(other, at)
			return other
		}

		t.Run("WhoamiAnswersTheSessionAndReissuesTheCookie", func(t *testing.T) {
			r := do(t, "GET", pub+"/sessions/whoami", "", kratosCookie)
			r.expect(t, 200, "")
			var who struct {
				ID       string `json:"id"`
				Identity struct {
					ID string `json:"id"`
				} `json:"identity"`
			}
			if err := json.Unmarshal([]byte(r.body), &who); err != nil || who.ID != id || who.Identity.ID != ident.Id {
				t.Fatalf("whoami answered %s, want session %s of %s", r.body, id, ident.Id)
			}
			set := sessionCookies(r.Response)
			if len(set) != 1 {
				t.Fatalf("%d session cookies set, want 1: %v", len(set), r.Header["Set-Cookie"])
			}
			c := set[0]
			if !strings.Contains(c.Value, ".") || c.Value == k.CookieValue {
				t.Fatalf("the cookie is not in Latchkey's format: %q", c.Raw)
			}
			maxAge := "Max-Age=" + strconv.Itoa(int(k.ExpiresAt.Sub(now).Seconds()))
			for _, want := range []string{"Path=/", maxAge, "HttpOnly", "SameSite=Lax"} {
				if !strings.Contains(c.Raw, want) {
					t.Errorf("Set-Cookie %q lacks %q", c.Raw, want)
				}
			}
			// The new cookie carries the same session, and is not stale.
			s := srv.SessionOf(t, r.Response)
			if s.ID != id || s.Token != k.SessionToken {
				t.Fatalf("the re-issued cookie carries session %s, token %s", s.ID, s.Token)
			}
			again := do(t, "GET", pub+"/sessions/whoami", "", "Cookie: "+cookieHeader(s))
			again.expect(t, 200, "")
			if set := sessionCookies(again.Response); len(set) != 0 {
				t.Fatalf("the re-issued cookie was re-issued again: %v", again.Header["Set-Cookie"])
			}
		})

		t.Run("AnyRequestThatReadsTheSessionReissuesTheCookie", func(t *testing.T) {
			r := do(t, "GET", pub+"/sessions", "", kratosCookie)
			r.expect(t, 200, "[]")
			if s := srv.SessionOf(t, r.Response); s.ID != id {
				t.Fatalf("GET /sessions re-issued a cookie for session %s", s.ID)
			}
		})

		t.Run("WrongCookieSecret", func(t *testing.T) {
			other := another(t, now, `SECRETS_COOKIE=["someone-elses-cookie-secret-here"]`)
			r := do(t, "GET", other.Public.URL+"/sessions/whoami", "", kratosCookie)
			r.expect(t, 401, bodyWhoami401)
			if set := sessionCookies(r.Response); len(set) != 0 {
				t.Fatalf("a cookie was set: %v", r.Header["Set-Cookie"])
			}
		})

		t.Run("KratosSecretLaterInTheRotationList", func(t *testing.T) {
			other := another(t, now, `SECRETS_COOKIE=["the-new-cookie-secret-32-chars!!","`+k.SecretsCookie[0]+`"]`)
			r := do(t, "GET", other.Public.URL+"/sessions/whoami", "", kratosCookie)
			r.expect(t, 200, "")
			do(t, "GET", other.Public.URL+"/sessions/whoami", "", "Cookie: "+cookieHeader(other.SessionOf(t, r.Response))).expect(t, 200, "")
		})

		// Kratos refuses a persistent cookie written longer ago than
		// session.lifespan, whatever the session's own expiry.
		t.Run("PersistentCookieOlderThanTheLifespan", func(t *testing.T) {
			do(t, "GET", another(t, written.Add(time.Hour), "SESSION_LIFESPAN=1h").Public.URL+"/sessions/whoami", "", kratosCookie).expect(t, 200, "")
			r := do(t, "GET", another(t, written.Add(time.Hour+time.Second), "SESSION_LIFESPAN=1h").Public.URL+"/sessions/whoami", "", kratosCookie)
			r.expect(t, 401, bodyWhoami401)
			if set := sessionCookies(r.Response); len(set) != 0 {
				t.Fatalf("a cookie was set: %v", r.Header["Set-Cookie"])
			}
		})

		// A cookie that is not persistent is accepted for 30 days.
		t.Run("BrowserSessionCookieOlderThan30Days", func(t *testing.T) {
			month := 30 * 24 * time.Hour
			r := do(t, "GET", another(t, written.Add(month), "SESSION_COOKIE_PERSISTENT=false").Public.URL+"/sessions/whoami", "", kratosCookie)
			r.expect(t, 200, "")
			if set := sessionCookies(r.Response); len(set) != 1 || set[0].MaxAge != 0 || strings.Contains(set[0].Raw, "Expires") {
				t.Fatalf("re-issued as %v, want a browser-session cookie", r.Header["Set-Cookie"])
			}
			do(t, "GET", another(t, written.Add(month+time.Second), "SESSION_COOKIE_PERSISTENT=false").Public.URL+"/sessions/whoami", "", kratosCookie).
				expect(t, 401, bodyWhoami401)
		})

		// Last: this ends the imported session. The logout's own cookie
		// comes after the re-issued one, so the browser ends without one.
		t.Run("LogoutClearsTheCookieAndEndsTheSession", func(t *testing.T) {
			r := do(t, "GET", pub+"/self-service/logout/browser", "", kratosCookie, "Accept: application/json")
			r.expect(t, 200, "")
			var flow struct {
				LogoutToken string `json:"logout_token"`
			}
			if err := json.Unmarshal([]byte(r.body), &flow); err != nil || flow.LogoutToken == "" {
				t.Fatalf("logout flow %s", r.body)
			}
			r = do(t, "GET", pub+"/self-service/logout?token="+flow.LogoutToken, "", kratosCookie, "Accept: application/json")
			r.expect(t, 204, "")
			set := sessionCookies(r.Response)
			if len(set) == 0 || set[len(set)-1].MaxAge >= 0 {
				t.Fatalf("the last session cookie set does not clear it: %v", r.Header["Set-Cookie"])
			}
			r = do(t, "GET", pub+"/sessions/whoami", "", kratosCookie)
			r.expect(t, 401, bodyWhoami401)
			if set := sessionCookies(r.Response); len(set) != 0 {
				t.Fatalf("a cookie was set for an ended session: %v", r.Header["Set-Cookie"])
			}
		})
	})
}
