package webui

import (
	"bytes"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/i18n"
)

// TestPagesParsedPerLanguage: every page parses in every language; a
// language's pages are parsed on its first page only, and pages asked
// for at once in every language render as they do alone.
func TestPagesParsedPerLanguage(t *testing.T) {
	s := newPageSet()
	for _, tag := range i18n.Supported {
		if s[tag].pages != nil {
			t.Fatalf("%s parsed before its first page", tag)
		}
	}
	p := page{Title: "T", Message: &messagePage{Heading: "H", Text: "X"}}
	render := func(tmpl *bytes.Buffer, lang string) error {
		tag, _ := i18n.Match(lang)
		q := p
		q.Lang = lang
		return s.page(tag, "message").ExecuteTemplate(tmpl, "layout.html", q)
	}
	var en bytes.Buffer
	if err := render(&en, "en"); err != nil {
		t.Fatal(err)
	}
	for _, tag := range i18n.Supported[1:] {
		if s[tag].pages != nil {
			t.Errorf("%s parsed with English", tag)
		}
	}

	want := map[string]string{}
	for _, tag := range i18n.Supported {
		for _, name := range pageNames {
			if newPageSet().page(tag, name) == nil {
				t.Errorf("%s: no page %q", tag, name)
			}
		}
		var b bytes.Buffer
		if err := render(&b, tag.String()); err != nil {
			t.Fatal(err)
		}
		want[tag.String()] = b.String()
	}
	s = newPageSet()
	var wg sync.WaitGroup
	for range 4 {
		for _, tag := range i18n.Supported {
			wg.Go(func() {
				var b bytes.Buffer
				if err := render(&b, tag.String()); err != nil {
					t.Error(err)
				} else if b.String() != want[tag.String()] {
					t.Errorf("%s: rendered differently at once", tag)
				}
			})
		}
	}
	wg.Wait()
}
