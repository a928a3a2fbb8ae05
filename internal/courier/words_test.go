package courier

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/i18n"
)

// TestWordsSayWhatThePrinterSays: the remembered answers of the
// Templates' words equal the printer's, whatever the order of the
// questions (repeats, changes, times in and across minutes and zones),
// in every language.
func TestWordsSayWhatThePrinterSays(t *testing.T) {
	tmpl := &Templates{}
	base := time.Date(2026, 1, 31, 23, 59, 0, 0, time.UTC)
	var times []time.Time
	for _, d := range []time.Duration{0, time.Second, 59 * time.Second, 59*time.Second + 999*time.Millisecond, time.Minute, 61 * time.Second, 24 * time.Hour * 40, 0} {
		times = append(times, base.Add(d), base.Add(d).In(time.FixedZone("", 5*3600+30*60)))
	}
	durations := []time.Duration{time.Minute, time.Minute, time.Hour, 90 * time.Minute, time.Hour, 7 * 24 * time.Hour, 30 * time.Second, 1441 * time.Minute, time.Hour}
	for _, lang := range i18n.Supported {
		p, w := i18n.For(lang), tmpl.words(lang)
		if w.Lang() != p.Lang() || tmpl.words(lang) != w {
			t.Fatalf("%s: words of %q, made once", lang, w.Lang())
		}
		for round := 0; round < 2; round++ {
			for _, tm := range times {
				if got, want := w.DateTime(tm), p.DateTime(tm); got != want {
					t.Errorf("%s: DateTime(%s) = %q, want %q", lang, tm, got, want)
				}
			}
			for _, d := range durations {
				if got, want := w.Duration(d), p.Duration(d); got != want {
					t.Errorf("%s: Duration(%s) = %q, want %q", lang, d, got, want)
				}
			}
		}
	}
}

// BenchmarkLocalize is a notification's localize, with the printer and
// with the Templates' words.
func BenchmarkLocalize(b *testing.B) {
	lang := i18n.Supported[0]
	d := TemplateData{ExpiresInMinutes: 7 * 24 * 60, LockdownURL: "https://example.com/ui/lockdown?token=x",
		Event: &EventData{Type: "recovery.admin_code_created", Time: time.Now()}}
	b.Run("printer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := d
			c.localize(i18n.For(lang))
		}
	})
	b.Run("words", func(b *testing.B) {
		tmpl := &Templates{}
		b.ReportAllocs()
		for b.Loop() {
			c := d
			c.localize(tmpl.words(lang))
		}
	})
}
