package i18n

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/text/language"
)

// Printer renders texts in one language. Get one with For; it is
// read-only and safe to share.
type Printer struct {
	tag   language.Tag
	texts *catalog
	en    *catalog
}

// For returns the Printer of a supported language; any other tag gets
// the closest supported one (English when none is close).
func For(tag language.Tag) *Printer {
	if _, ok := catalogs[tag]; !ok {
		if t, ok := Match(tag.String()); ok {
			tag = t
		} else {
			tag = Default
		}
	}
	return &Printer{tag: tag, texts: catalogs[tag], en: catalogs[language.English]} // read on the first text
}

// Tag is the printer's language.
func (p *Printer) Tag() language.Tag { return p.tag }

// Lang is the language as an HTML lang attribute / Content-Language value
// ("en", "de", "pt-BR").
func (p *Printer) Lang() string { return p.tag.String() }

// Has reports whether key has a text in the printer's language or in
// English.
func (p *Printer) Has(key string) bool {
	_, ok := p.lookup(key)
	return ok
}

func (p *Printer) lookup(key string) (text, bool) {
	if t, ok := p.texts.get()[key]; ok {
		return t, true
	}
	t, ok := p.en.get()[key]
	return t, ok
}

// T returns the text of key with its {placeholders} filled from args
// (name, value pairs). An unknown key is returned as it is, so a missing
// text is visible, never blank.
func (p *Printer) T(key string, args ...any) string {
	t, ok := p.lookup(key)
	if !ok {
		return key
	}
	if t.Plain == "" && t.Other != "" {
		return fill(t.Other, args)
	}
	return fill(t.Plain, args)
}

// N returns the form of key for count n ({count} is filled with n), plus
// the other placeholders from args.
func (p *Printer) N(key string, n int, args ...any) string {
	t, ok := p.lookup(key)
	if !ok {
		return key
	}
	s := t.Other
	if t.Plain != "" {
		s = t.Plain
	} else if t.One != "" && p.one(n) {
		s = t.One
	}
	return fill(s, append([]any{"count", n}, args...))
}

// one reports whether n takes the singular: 1 in English, German, Spanish;
// 0 and 1 in French and Brazilian Portuguese (CLDR).
func (p *Printer) one(n int) bool {
	base, _ := p.tag.Base()
	switch base.String() {
	case "fr", "pt":
		return n == 0 || n == 1
	}
	return n == 1
}

// Duration says how long d is the way a person would: "45 seconds",
// "60 minutes" is "1 hour", "90 minutes" is "1 hour 30 minutes", whole
// days from two days up. It rounds to the minute above one minute.
func (p *Printer) Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d < time.Minute {
		s := int(math.Round(d.Seconds()))
		if s < 1 {
			s = 1
		}
		return p.N("duration.seconds", s)
	}
	m := int(math.Round(d.Minutes()))
	switch {
	case m < 60:
		return p.N("duration.minutes", m)
	case m >= 48*60 && m%(24*60) == 0:
		return p.N("duration.days", m/(24*60))
	case m%60 == 0:
		return p.N("duration.hours", m/60)
	case m < 24*60:
		return p.T("duration.hours_minutes", "hours", p.N("duration.hours", m/60), "minutes", p.N("duration.minutes", m%60))
	}
	return p.N("duration.hours", int(math.Round(float64(m)/60)))
}

// Funcs are the template functions that print in p's language, under the
// names every Latchkey template uses (the /ui/ pages and the mails):
// {{t "key" "name" value}}, {{tn "key" count}}, {{duration d}},
// {{datetime t}}. The map suits text/template and html/template alike.
func (p *Printer) Funcs() map[string]any {
	return map[string]any{
		"t":        p.T,
		"tn":       p.N,
		"duration": p.Duration,
		"datetime": p.DateTime,
	}
}

// DateTime writes t (in UTC) as a date and time in words: "2 January 2026
// at 15:04 UTC", "2. Januar 2026 um 15:04 UTC".
func (p *Printer) DateTime(t time.Time) string {
	t = t.UTC()
	return p.T("datetime",
		"day", t.Day(),
		"month", p.T(fmt.Sprintf("month.%d", int(t.Month()))),
		"year", t.Year(),
		"time", t.Format("15:04"),
		"zone", "UTC")
}
