package webui_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// axe-core checks every page the browser tests show (WCAG 2.1 A/AA and
// best practices): a serious or critical violation fails the test. The
// script comes from npm (axe-core); .ci/run installs it and sets
// LATCHKEY_TEST_AXE. Without it the checks are skipped with a note, as the
// browser tests are without Chromium.

// axeSource is the axe-core script, or "" when none is installed.
var axeSource = sync.OnceValues(func() (string, error) {
	path := os.Getenv("LATCHKEY_TEST_AXE")
	if path == "" {
		home, _ := os.UserHomeDir()
		guess := filepath.Join(home, ".cache", "latchkey-axe", "node_modules", "axe-core", "axe.min.js")
		if _, err := os.Stat(guess); err != nil {
			axeNote.Do(func() {
				fmt.Println("webui: axe-core not found (npm install axe-core, then set LATCHKEY_TEST_AXE to its axe.min.js); accessibility checks are skipped")
			})
			return "", nil
		}
		path = guess
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// Named but unreadable: CI asked for the checks, so fail loudly.
		return "", fmt.Errorf("LATCHKEY_TEST_AXE: %w", err)
	}
	return string(b), nil
})

var axeNote sync.Once

// axeViolation is the part of an axe-core result a failure message needs.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// checkAccessibility runs axe-core on the page the tab shows, once per
// page (path and language) per test, and fails the test on every serious
// or critical violation.
func (b *browser) checkAccessibility() {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		b.t.Fatal(err)
	}
	if src == "" {
		return
	}
	loc := b.location()
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(u.Scheme, "http") {
		return
	}
	lang := eval[string](b, `document.documentElement.lang`)
	key := u.Path + " " + lang
	if b.checked == nil {
		b.checked = map[string]bool{}
	}
	if b.checked[key] {
		return
	}
	b.checked[key] = true
	violations := b.seriousViolations(src)
	for _, v := range violations {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v %s", n.Target, n.HTML))
		}
		b.t.Errorf("accessibility (%s, %s) on %s [%s]: %s\n  %s", v.Impact, v.ID, u.Path, lang, v.Help, strings.Join(where, "\n  "))
	}
}

// seriousViolations runs axe-core (src) on the tab's page and returns its
// serious and critical violations.
func (b *browser) seriousViolations(src string) []axeViolation {
	b.t.Helper()
	if eval[bool](b, `typeof window.axe === "undefined"`) {
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
			b.t.Fatalf("load axe-core on %s: %v", b.location(), err)
		}
	}
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`axe.run(document, {
		runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
		resultTypes: ["violations"]
	}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe-core on %s: %v", b.location(), err)
	}
	var all, serious []axeViolation
	if err := json.Unmarshal([]byte(raw), &all); err != nil {
		b.t.Fatalf("axe-core result on %s: %v", b.location(), err)
	}
	for _, v := range all {
		if v.Impact == "serious" || v.Impact == "critical" {
			serious = append(serious, v)
		}
	}
	return serious
}
