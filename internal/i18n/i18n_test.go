package i18n

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/text/language"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" = no match
	}{
		{"de", "de"}, {"de-AT", "de"}, {"de_CH", "de"}, {"fr-CA", "fr"}, {"es-MX", "es"},
		{"pt", "pt-BR"}, {"pt-BR", "pt-BR"}, {"en-GB", "en"}, {"EN", "en"},
		{"ja", ""}, {"", ""}, {"  ", ""}, {"not a language!", ""},
	} {
		got, ok := Match(tc.in)
		if tc.want == "" {
			if ok {
				t.Errorf("Match(%q) = %s, want no match", tc.in, got)
			}
			continue
		}
		if !ok || got.String() != tc.want {
			t.Errorf("Match(%q) = %s, %v; want %s", tc.in, got, ok, tc.want)
		}
	}
}

func TestMatchAcceptLanguage(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"de-DE,de;q=0.9,en;q=0.8", "de"},
		{"ja, fr;q=0.5", "fr"}, // the first supported preference, not English
		{"en-US,en;q=0.9", "en"},
		{"pt-PT", "pt-BR"},
		{"es-419", "es"},
		{"ja, zh;q=0.8", ""},
		{"", ""},
		{";;;q=x", ""},
	} {
		got, ok := MatchAcceptLanguage(tc.header)
		if (tc.want == "") == ok || (ok && got.String() != tc.want) {
			t.Errorf("MatchAcceptLanguage(%q) = %s, %v; want %q", tc.header, got, ok, tc.want)
		}
	}
}

func TestChooseOrder(t *testing.T) {
	for _, tc := range []struct {
		trait, accept string
		fallback      language.Tag
		want          string
	}{
		{"fr", "de", language.Spanish, "fr"},              // the identity's trait first
		{"ja", "de", language.Spanish, "de"},              // an unsupported trait falls to the browser
		{"", "ja", language.Spanish, "es"},                // then the configured default
		{"", "", language.Und, "en"},                      // then English
		{"", "de;q=0.1, en;q=0.9", language.German, "en"}, // quality order
	} {
		if got := Choose(tc.trait, tc.accept, tc.fallback); got.String() != tc.want {
			t.Errorf("Choose(%q, %q, %s) = %s, want %s", tc.trait, tc.accept, tc.fallback, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		lang string
		d    time.Duration
		want string
	}{
		{"en", 60 * time.Minute, "1 hour"},
		{"en", 15 * time.Minute, "15 minutes"},
		{"en", time.Minute, "1 minute"},
		{"en", 6600 * time.Millisecond, "7 seconds"},
		{"en", 200 * time.Millisecond, "1 second"},
		{"en", -7 * time.Minute, "7 minutes"},
		{"en", 90 * time.Minute, "1 hour 30 minutes"},
		{"en", 24 * time.Hour, "24 hours"},
		{"en", 7 * 24 * time.Hour, "7 days"},
		{"en", 50*time.Hour + 20*time.Minute, "50 hours"},
		{"de", 60 * time.Minute, "1 Stunde"},
		{"de", 3 * time.Minute, "3 Minuten"},
		{"fr", 7 * 24 * time.Hour, "7 jours"},
		{"es", 150 * time.Minute, "2 horas y 30 minutos"},
		{"pt-BR", time.Minute, "1 minuto"},
	} {
		tag := language.MustParse(tc.lang)
		if got := For(tag).Duration(tc.d); got != tc.want {
			t.Errorf("%s Duration(%s) = %q, want %q", tc.lang, tc.d, got, tc.want)
		}
	}
}

func TestPlural(t *testing.T) {
	// French and Portuguese take the singular for 0; English and German do not.
	for _, tc := range []struct {
		lang string
		n    int
		want string
	}{
		{"en", 0, "0 minutes"}, {"en", 1, "1 minute"}, {"de", 0, "0 Minuten"},
		{"fr", 0, "0 minute"}, {"fr", 2, "2 minutes"}, {"pt-BR", 0, "0 minuto"},
	} {
		if got := For(language.MustParse(tc.lang)).N("duration.minutes", tc.n); got != tc.want {
			t.Errorf("%s N(%d) = %q, want %q", tc.lang, tc.n, got, tc.want)
		}
	}
}

func TestDateTime(t *testing.T) {
	at := time.Date(2026, 1, 2, 16, 4, 0, 0, time.FixedZone("CET", 3600))
	for lang, want := range map[string]string{
		"en":    "2 January 2026 at 15:04 UTC",
		"de":    "2. Januar 2026 um 15:04 UTC",
		"fr":    "2 janvier 2026 à 15:04 UTC",
		"es":    "2 de enero de 2026 a las 15:04 UTC",
		"pt-BR": "2 de janeiro de 2026 às 15:04 UTC",
	} {
		if got := For(language.MustParse(lang)).DateTime(at); got != want {
			t.Errorf("%s DateTime = %q, want %q", lang, got, want)
		}
	}
}

func TestForFallsBack(t *testing.T) {
	if got := For(language.Japanese).Lang(); got != "en" {
		t.Errorf("For(ja) = %s, want en", got)
	}
	if got := For(language.MustParse("de-AT")).Lang(); got != "de" {
		t.Errorf("For(de-AT) = %s, want de", got)
	}
	p := For(language.German)
	if got := p.T("no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key = %q, want the key itself", got)
	}
	if got := fill("{a} and {b}", []any{"a", 1}); got != "1 and {b}" {
		t.Errorf("fill = %q: a placeholder without a value must stay visible", got)
	}
}

var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

func placeholders(s text) []string {
	var all []string
	for _, f := range []string{s.Plain, s.One, s.Other} {
		all = append(all, placeholder.FindAllString(f, -1)...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// TestEveryLanguageHasEveryText keeps the translations whole: each
// language defines every English key, with the same placeholders (a
// translation that drops {code} would mail a recovery code-less text) and
// counted where English is counted.
func TestEveryLanguageHasEveryText(t *testing.T) {
	en := catalogs[language.English].get()
	for _, tag := range Supported[1:] {
		texts := catalogs[tag].get()
		for key, want := range en {
			got, ok := texts[key]
			if !ok {
				t.Errorf("%s: %q is not translated", tag, key)
				continue
			}
			if (want.Other != "") != (got.Other != "") {
				t.Errorf("%s: %q must be counted exactly when English is", tag, key)
			}
			// A translation may leave out {count} in the singular ("une heure").
			gp, wp := placeholders(got), placeholders(want)
			if strings.Join(gp, "") != strings.Join(wp, "") {
				t.Errorf("%s: %q has placeholders %v, English %v", tag, key, gp, wp)
			}
		}
		for key := range texts {
			if _, ok := en[key]; !ok {
				t.Errorf("%s: %q has no English text (a stale key?)", tag, key)
			}
		}
	}
}

func TestLoadRejectsBadCatalogs(t *testing.T) {
	dup := fstest.MapFS{
		"locales/en/a.json": {Data: []byte(`{"x": "1"}`)},
		"locales/en/b.json": {Data: []byte(`{"x": "2"}`)},
	}
	if _, err := loadLanguage(dup, language.English); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a key in two files: err = %v", err)
	}
	noOther := fstest.MapFS{"locales/en/a.json": {Data: []byte(`{"x": {"one": "1"}}`)}}
	if _, err := loadLanguage(noOther, language.English); err == nil {
		t.Error("a counted text without an other form loaded")
	}
	if _, err := loadLanguage(fstest.MapFS{"locales/de/a.json": {Data: []byte(`{`)}}, language.German); err == nil {
		t.Error("broken JSON loaded")
	}
}
