// Package i18n chooses the language a person reads Latchkey in and holds
// the texts of the built-in UI and mails in each supported language.
//
// The API never changes language: a flow's messages keep their Kratos ids
// and English texts (the SDK contract). Only what Latchkey renders itself,
// the /ui/ pages and the emails, is translated, through a Printer.
//
// Texts live in locales/<locale>/*.json, one flat object per file (key →
// text, or key → {"one": …, "other": …} for a count). Every file of a
// locale is merged when the language's first text is needed; a key
// defined twice is an error the tests catch (a panic at run time), a key
// missing from a locale falls back to English. Placeholders are {name} and
// are replaced from the arguments given by name.
package i18n

import (
	"strings"

	"golang.org/x/text/language"
)

// Supported are the languages Latchkey ships texts for; English first, the
// fallback for every missing text.
var Supported = []language.Tag{
	language.English,
	language.German,
	language.French,
	language.Spanish,
	language.BrazilianPortuguese,
}

// Default is the language when neither the identity nor the browser names
// a supported one and selfservice.default_locale is not set.
var Default = language.English

var matcher = language.NewMatcher(Supported)

// Match returns the supported language closest to the one named ("de-AT"
// is German, "pt" Brazilian Portuguese), or false when none is close
// ("ja", "", nonsense).
func Match(s string) (language.Tag, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return language.Und, false
	}
	t, err := language.Parse(strings.ReplaceAll(s, "_", "-"))
	if err != nil {
		return language.Und, false
	}
	_, i, c := matcher.Match(t)
	if c == language.No {
		return language.Und, false
	}
	return Supported[i], true
}

// MatchAcceptLanguage returns the supported language an Accept-Language
// header prefers most, or false when it names none of them.
func MatchAcceptLanguage(header string) (language.Tag, bool) {
	if strings.TrimSpace(header) == "" {
		return language.Und, false
	}
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return language.Und, false
	}
	// Match each preference in order, so "ja, de;q=0.5" is German rather
	// than the matcher's English default for a first choice it lacks.
	for _, t := range tags {
		if _, i, c := matcher.Match(t); c != language.No {
			return Supported[i], true
		}
	}
	return language.Und, false
}

// Choose picks the language for a person: the identity's locale trait
// when it names a supported language, then the browser's Accept-Language,
// then the configured default (selfservice.default_locale).
func Choose(traitLocale, acceptLanguage string, fallback language.Tag) language.Tag {
	if t, ok := Match(traitLocale); ok {
		return t
	}
	if t, ok := MatchAcceptLanguage(acceptLanguage); ok {
		return t
	}
	if fallback == language.Und {
		return Default
	}
	return fallback
}

// TraitLocale is the "locale" trait of an identity's traits, or "" when
// the schema has none.
func TraitLocale(traits map[string]any) string {
	s, _ := traits["locale"].(string)
	return s
}
