package webui_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds the browser: LATCHKEY_TEST_CHROMIUM (CI sets it), else
// chromium on PATH. Without one the browser tests skip with a note, so a
// newcomer's `go test ./...` passes; CI installs Debian's chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LATCHKEY_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	skipNote.Do(func() {
		fmt.Println("webui: no chromium binary found (install Debian's chromium or set LATCHKEY_TEST_CHROMIUM); browser tests are skipped")
	})
	t.Skip("no chromium binary")
	return ""
}

var skipNote sync.Once

// browser is one headless Chromium tab driven through a test.
type browser struct {
	t   *testing.T
	ctx context.Context
	// seenMail are the ids of dev-mailbox mails readMailbox passes over:
	// those it returned and those there when the mailbox was marked.
	seenMail []string
	// checked are the pages (path and language) axe-core has checked.
	checked map[string]bool
	// lang is the language the browser asks for ("" = Chromium's default).
	lang string
}

// MustBrowser starts a fresh headless Chromium (its own profile, no
// background networking) that is closed when the test ends.
func MustBrowser(t *testing.T) *browser {
	t.Helper()
	return mustBrowser(t, "")
}

// MustBrowserIn is MustBrowser for a person whose browser asks for lang
// first (its Accept-Language header); screenshots go to a lang folder.
func MustBrowserIn(t *testing.T, lang string) *browser {
	t.Helper()
	return mustBrowser(t, lang)
}

func mustBrowser(t *testing.T, lang string) *browser {
	t.Helper()
	exe := chromiumPath(t)
	profile, err := os.MkdirTemp("", "latchkey-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(900, 1000),
	)
	if lang != "" {
		opts = append(opts, chromedp.Flag("lang", lang), chromedp.Flag("accept-lang", lang))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		_ = os.RemoveAll(profile)
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	return &browser{t: t, ctx: ctx, lang: lang}
}

// open navigates to url and returns the final response (after redirects).
func (b *browser) open(url string) *network.Response {
	b.t.Helper()
	res, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
	b.checkAccessibility()
	return res
}

// fill types value into the input matching the CSS selector.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Clear(chromedp.CSS(sel)),
		chromedp.SendKeys(chromedp.CSS(sel), value),
	); err != nil {
		b.t.Fatalf("fill %s: %v\npage:\n%s", sel, err, b.pageText())
	}
}

// click clicks what the selector names and waits for the page it loads.
func (b *browser) click(sel string) *network.Response {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("find %s on %s: %v\npage:\n%s", sel, b.location(), err, b.pageText())
	}
	res, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	if res != nil {
		b.checkAccessibility()
	}
	return res
}

// location is the tab's URL.
func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("location: %v", err)
	}
	return loc
}

// text is the visible text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// pageText is the page's whole visible text (for failure messages).
func (b *browser) pageText() string {
	s, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// eval runs a JavaScript expression through the DevTools protocol (the
// pages themselves run no script).
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// openDetails unfolds every <details> of the page (technical details),
// so expectText sees their text.
func (b *browser) openDetails() {
	b.t.Helper()
	eval[bool](b, `(document.querySelectorAll('details').forEach(d => d.open = true), true)`)
}

// expectPath fails unless the tab shows a page under path.
func (b *browser) expectPath(path string) {
	b.t.Helper()
	if loc := b.location(); !strings.Contains(loc, path) {
		b.t.Fatalf("browser is at %s, want %s\npage:\n%s", loc, path, b.pageText())
	}
}

// expectText fails unless the page shows every want.
func (b *browser) expectText(wants ...string) {
	b.t.Helper()
	page := b.pageText()
	for _, w := range wants {
		if !strings.Contains(page, w) {
			b.t.Fatalf("page %s does not show %q\npage:\n%s", b.location(), w, page)
		}
	}
}

// screenshot saves a full-page PNG as name.png in LATCHKEY_SCREENSHOTS_DIR
// (the docs' screenshots come from there), else in a temporary directory.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("LATCHKEY_SCREENSHOTS_DIR")
	if dir == "" {
		dir = b.t.TempDir()
	} else if b.lang != "" {
		dir = filepath.Join(dir, b.lang)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Fatal(err)
		}
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("write %s: %v", path, err)
	}
	b.t.Logf("screenshot %s", path)
}

// TestBrowserRendersAnyFlow renders the synthetic flow (every node kind) in
// real Chromium: labels are bound, the stylesheet applies under the
// Content-Security-Policy, focus is visible, and the page fits a phone.
func TestBrowserRendersAnyFlow(t *testing.T) {
	b := MustBrowser(t)
	api := newFakeAPI()
	api.on("/self-service/settings/flows?id="+flowID, 200, syntheticFlow)
	h := MustHandler(t, api, fakeMailbox{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	h.Config.PublicBaseURL = srv.URL + "/"

	res := b.open(srv.URL + "/ui/settings?flow=" + flowID)
	if res.Status != 200 {
		t.Fatalf("status %d", res.Status)
	}
	b.screenshot("every-node-kind")

	t.Run("EveryVisibleInputHasALabel", func(t *testing.T) {
		unlabelled := eval[[]string](b, `Array.from(document.querySelectorAll('input:not([type=hidden])')).filter(i => i.labels.length === 0).map(i => i.name)`)
		if len(unlabelled) > 0 {
			t.Errorf("inputs without a label: %v", unlabelled)
		}
		if n := eval[int](b, `document.querySelectorAll('form').length`); n != 5 {
			t.Errorf("%d forms, want 5", n)
		}
		if n := eval[int](b, `document.querySelectorAll('form input[name=csrf_token]').length`); n != 5 {
			t.Errorf("%d csrf_token inputs, want one per form", n)
		}
	})

	t.Run("StylesheetApplies", func(t *testing.T) {
		radius := eval[string](b, `getComputedStyle(document.querySelector('.card')).borderTopLeftRadius`)
		if radius != "12px" {
			t.Errorf("card border radius %q: the stylesheet did not load", radius)
		}
	})

	t.Run("FocusIsVisible", func(t *testing.T) {
		if err := chromedp.Do(b.ctx, chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		style := eval[string](b, `getComputedStyle(document.activeElement).outlineStyle + " " + getComputedStyle(document.activeElement).outlineWidth`)
		if style != "solid 3px" {
			t.Errorf("focused element outline %q, want solid 3px", style)
		}
	})

	t.Run("FitsAPhone", func(t *testing.T) {
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile), chromedp.Reload()); err != nil {
			t.Fatal(err)
		}
		overflow := eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth`)
		if overflow {
			t.Errorf("page is wider than a phone screen (%d > %d)", eval[int](b, `document.documentElement.scrollWidth`), eval[int](b, `window.innerWidth`))
		}
	})
}
