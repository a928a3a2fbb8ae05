package kratosimport_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/kratosimport"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// browserSession is a browser session of the manifest, with the cookie
// Kratos set for it.
type browserSession struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Cookie *struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"cookie"`
}

// browserSessions are the browser sessions the manifest recorded for a
// backend.
func browserSessions(t *testing.T, backend string) []browserSession {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Backends map[string]struct {
			Identities []struct {
				Sessions []browserSession `json:"sessions"`
			} `json:"identities"`
		} `json:"backends"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var out []browserSession
	for _, i := range m.Backends[backend].Identities {
		for _, s := range i.Sessions {
			if s.Type == "browser" && s.Cookie != nil {
				out = append(out, s)
			}
		}
	}
	return out
}

// cookieWrittenAt is the timestamp a Kratos session cookie carries.
func cookieWrittenAt(t *testing.T, value string) time.Time {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(value)
	ts, _, _ := strings.Cut(string(raw), "|")
	sec, perr := strconv.ParseInt(ts, 10, 64)
	if err != nil || perr != nil {
		t.Fatalf("not a Kratos session cookie: %q", value)
	}
	return time.Unix(sec, 0)
}

// TestImportKeepsBrowsersSignedIn: after the import, a browser that was
// signed in to Kratos presents the cookie Kratos set and is still signed
// in; it gets the cookie back in Latchkey's format.
func TestImportKeepsBrowsersSignedIn(t *testing.T) {
	m := loadManifest(t)
	servertest.EachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		backend := string(d)
		browsers := browserSessions(t, backend)
		if len(browsers) == 0 {
			t.Fatalf("manifest has no browser session for %s", backend)
		}
		srv := startLatchkey(t, d, m, backend)
		mustImport(t, srv, kratosDSN(t, d), kratosimport.Options{})
		for _, b := range browsers {
			// Latchkey runs with the default session.lifespan (24h), so the
			// cookie is good for a day after Kratos wrote it, as it would
			// be on a Kratos configured so (the fixture's had a year).
			srv.Clock.Advance(cookieWrittenAt(t, b.Cookie.Value).Add(time.Hour).Sub(srv.Clock.Now()))
			res, raw := servertest.DoRaw(t, srv.HTTPClient(false), http.MethodGet, srv.Public.URL+"/sessions/whoami", nil,
				http.Header{"Cookie": {b.Cookie.Name + "=" + b.Cookie.Value}})
			var who struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(raw, &who); err != nil || res.StatusCode != http.StatusOK || who.ID != b.ID {
				t.Fatalf("whoami with the Kratos cookie of session %s: %d %s", b.ID, res.StatusCode, raw)
			}
			if s := srv.SessionOf(t, res); s.ID != b.ID {
				t.Fatalf("the cookie re-issued in Latchkey's format carries session %s, want %s", s.ID, b.ID)
			}
		}
	})
}
