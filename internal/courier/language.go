package courier

import (
	"context"
	htmltemplate "html/template"
	"maps"
	texttemplate "text/template"
	"time"

	"golang.org/x/text/language"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/i18n"
)

// The language of a mail.
//
// A mail is written in the recipient identity's locale trait when it names
// a supported language; else in the language the request that caused the
// mail asked for (Accept-Language); else in selfservice.default_locale.
// Requests on the admin listener ask for nothing: a code an administrator
// creates reaches its owner in the owner's language, not the
// administrator's. The Queue chooses when a mail is queued and stores the
// choice with the message (TemplateData.Locale), so the HTML body rendered
// at delivery, and the Content-Language header, say the same.

type requestLanguageKey struct{}

// WithRequestLanguage returns ctx carrying lang (a RequestLanguage value)
// as the language of the request ctx works for. A preparer uses it: it
// queues mail away from the request that asked for it, so the language
// travels in the internal message.
func WithRequestLanguage(ctx context.Context, lang string) context.Context {
	return context.WithValue(ctx, requestLanguageKey{}, lang)
}

// RequestLanguage is the supported language the public request ctx
// belongs to prefers ("de", "pt-BR"), or "" when it names none, ctx is an
// admin request or belongs to no request. Its cost does not depend on
// anything but the header, so a request path that must take the same time
// for every address may call it.
func RequestLanguage(ctx context.Context) string {
	if lang, ok := ctx.Value(requestLanguageKey{}).(string); ok {
		return lang
	}
	o := httpx.OriginOf(ctx)
	if !o.Known || o.Admin {
		return ""
	}
	if t, ok := i18n.MatchAcceptLanguage(o.AcceptLanguage); ok {
		return t.String()
	}
	return ""
}

// language chooses the language of a mail carrying d, queued in ctx.
func (t *Templates) language(ctx context.Context, d TemplateData) language.Tag {
	if tag, ok := i18n.Match(d.Locale); ok {
		return tag // the caller chose
	}
	traits, _ := d.Identity["traits"].(map[string]any)
	return i18n.Choose(i18n.TraitLocale(traits), RequestLanguage(ctx), t.defaultLang)
}

// localize sets the texts of d that depend on its language: Locale, the
// expiry in words, the event time and the lockdown link's validity.
func (d *TemplateData) localize(p *i18n.Printer) {
	d.Locale = p.Lang()
	d.ExpiresIn = ""
	if d.ExpiresInMinutes > 0 {
		d.ExpiresIn = p.Duration(time.Duration(d.ExpiresInMinutes) * time.Minute)
	}
	if d.LockdownURL != "" {
		// A notification expires with its lockdown link.
		d.LockdownValidFor = d.ExpiresIn
	}
	if d.Event != nil {
		ev := *d.Event
		ev.TimeText = p.DateTime(ev.Time)
		d.Event = &ev
	}
}

// languageOf is the language a stored message is rendered in: its Locale,
// or the default for data stored before mails had one.
func (t *Templates) languageOf(d TemplateData) language.Tag {
	if tag, ok := i18n.Match(d.Locale); ok {
		return tag
	}
	return t.defaultLang
}

// textFuncs are the functions of a template rendered in the language of
// p: the hermetic helpers every template has, and t, tn, duration and
// datetime in that language (the names the web UI's templates use).
func textFuncs(p *i18n.Printer) texttemplate.FuncMap {
	m := maps.Clone(baseFuncs)
	maps.Copy(m, p.Funcs())
	return m
}

func htmlFuncs(p *i18n.Printer) htmltemplate.FuncMap {
	return htmltemplate.FuncMap(textFuncs(p))
}
