package settings_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// TestStartAfterRecovery: the flow recovery hands over is written in the
// caller's transaction (gone if it rolls back), carries the given
// request_url and return_to, and is usable by the recovery session.
func TestStartAfterRecovery(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		ident := h.MustIdentity("handoff@example.test")
		sess, tok := h.MustSession(ident)

		errRollback := errors.New("rollback")
		var rolledBack string
		err := db.InTx(ctx, func(ctx context.Context) error {
			id, err := h.service.StartAfterRecovery(ctx, ident, sess, flow.TypeAPI, h.pub+"self-service/recovery?flow=a", "")
			rolledBack = id.String()
			if err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		if r := h.Do(http.MethodGet, "/self-service/settings/flows?id="+rolledBack, nil, "X-Session-Token", tok); r.Status != http.StatusNotFound {
			t.Fatalf("rolled back flow = %d", r.Status)
		}

		var id string
		err = db.InTx(ctx, func(ctx context.Context) error {
			u, err := h.service.StartAfterRecovery(ctx, ident, sess, flow.TypeBrowser, h.pub+"self-service/recovery?flow=b&return_to=https%3A%2F%2Fapp.example.com%2Fhome", "https://app.example.com/home")
			id = u.String()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		b := h.NewBrowser(tok)
		r := b.Do(http.MethodGet, "/self-service/settings/flows?id="+id, nil)
		m := r.JSON(t)
		if r.Status != http.StatusOK || m["type"] != "browser" || m["return_to"] != "https://app.example.com/home" ||
			m["request_url"] != h.pub+"self-service/recovery?flow=b&return_to=https%3A%2F%2Fapp.example.com%2Fhome" {
			t.Fatalf("flow = %d %s", r.Status, r.Body)
		}
		if b.Cookie(csrfCookieName(h)) == "" {
			t.Fatal("fetching a browser flow did not set the CSRF cookie")
		}

		// SPA without the token: 403, and (departure 6) the flow still
		// works afterwards in the same browser.
		r = b.Do(http.MethodPost, "/self-service/settings?flow="+id, `{"method":"password","password":"`+newPassword+`"}`, "Accept", acceptJSON)
		body := r.JSON(t)
		if r.Status != http.StatusForbidden || errorID(body) != "security_csrf_violation" {
			t.Fatalf("no csrf = %d %s", r.Status, r.Body)
		}
		details, _ := errorField(body, "details").(map[string]any)
		if details["reject_reason"] != "The HTTP Cookie Header was set and a CSRF token was sent but they do not match. We recommend deleting all cookies for this domain and retrying the flow." {
			t.Fatalf("details = %v", details)
		}
		r = b.Do(http.MethodPost, "/self-service/settings?flow="+id, `{"method":"password","password":"`+newPassword+`","csrf_token":"`+csrfValue(t, m)+`"}`, "Accept", acceptJSON)
		if r.Status != http.StatusOK {
			t.Fatalf("retry = %d %s", r.Status, r.Body)
		}
		cw := mustJSON(r.JSON(t)["continue_with"])
		if cw != `[{"action":"redirect_browser_to","redirect_browser_to":"https://app.example.com/home"}]` {
			t.Fatalf("continue_with = %s", cw)
		}
	})
}

// csrfCookieName is the harness's CSRF cookie name.
func csrfCookieName(h *harness) string {
	return flow.NewCSRF(h.pub, "/", "", http.SameSiteLaxMode, false).CookieName
}
