package webui_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestAccessibilityCheckFindsViolations proves the axe-core check can fail:
// a page with an unlabelled input, an image without alt text and grey on
// grey text has serious violations of each kind.
func TestAccessibilityCheckFindsViolations(t *testing.T) {
	b := MustBrowser(t)
	src, err := axeSource()
	if err != nil {
		t.Fatal(err)
	}
	if src == "" {
		t.Skip("axe-core not installed")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><title>bad</title></head><body><main>
<form><input type="text" name="x"></form>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<p style="color:#bbb;background:#ccc">hard to read</p>
</main></body></html>`))
	}))
	t.Cleanup(srv.Close)
	if _, err := chromedp.Run(b.ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range b.seriousViolations(src) {
		ids = append(ids, v.ID)
	}
	for _, want := range []string{"label", "image-alt", "color-contrast"} {
		if !slices.Contains(ids, want) {
			t.Errorf("axe-core did not report %s (got %v)", want, ids)
		}
	}
}
