package courier

import (
	"testing"

	"github.com/latchkey/latchkey/internal/i18n"
)

// TestBuiltinSetsPassTheStartUpCheck: NewTemplates parses and tries only
// the sets that use an override; this is that check for every built-in
// set in every language, so a broken built-in template fails here rather
// than on its first mail.
func TestBuiltinSetsPassTheStartUpCheck(t *testing.T) {
	for _, tt := range TemplateTypes {
		for _, lang := range i18n.Supported {
			g, v := tt.key()
			p := i18n.For(lang)
			set, err := setSources{group: g, validity: v}.parse(p)
			if err != nil {
				t.Fatalf("%s/%s: %v", lang, tt, err)
			}
			if err := set.try(tt, p); err != nil {
				t.Errorf("%s/%s: %v", lang, tt, err)
			}
		}
	}
}

// TestSetsAreParsedOnFirstUse: a fresh Templates holds no parsed set, a
// mail parses the set of its type and language only, and the sources
// read at start are dropped once parsed.
func TestSetsAreParsedOnFirstUse(t *testing.T) {
	tpl, err := NewTemplates(TemplatesConfig{Overrides: map[TemplateType]TemplateURIs{
		TemplateRecoveryCodeValid: {Subject: fuzzURI("Code {{ .RecoveryCode }}")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	parsed := func() (n int) {
		for _, slots := range tpl.slots {
			for i := range slots {
				if slots[i].set != nil {
					n++
				}
			}
		}
		return n
	}
	if n := parsed(); n != 0 {
		t.Fatalf("%d sets parsed at start, want none", n)
	}
	r, err := tpl.Render(TemplateRecoveryCodeValid, TemplateData{RecoveryCode: "628048", Locale: "de"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Code 628048" {
		t.Errorf("subject = %q", r.Subject)
	}
	if n := parsed(); n != 1 {
		t.Errorf("%d sets parsed after one mail, want 1", n)
	}
	s := &tpl.slots[TemplateRecoveryCodeValid][1] // German
	if s.set == nil || s.parts.overridden() {
		t.Errorf("German recovery_code_valid: parsed %v, sources kept %v", s.set != nil, s.parts.overridden())
	}
}
