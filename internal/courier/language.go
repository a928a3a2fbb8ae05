package courier

import (
	"context"
	htmltemplate "html/template"
	"maps"
	"sync/atomic"
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
func (d *TemplateData) localize(p sayer) {
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

// sayer says what localize needs in one language: an *i18n.Printer, or
// the Templates' words that remember its last answers.
type sayer interface {
	Lang() string
	Duration(d time.Duration) string
	DateTime(t time.Time) string
}

// words is the sayer of one language for the mails a server queues and
// delivers: it says the last duration and the last minute again without
// filling the catalog's placeholders anew, since mails carry the same
// lifespan, and events of the same minute, over and over. One entry
// each: admin-chosen lifespans cannot make it grow.
type words struct {
	p        *i18n.Printer
	lang     string
	duration atomic.Pointer[said[time.Duration]]
	minute   atomic.Pointer[said[time.Time]]
}

// said is an answer of words and what it was asked.
type said[K any] struct {
	key  K
	text string
}

// words is the sayer of lang, made on its first use.
func (t *Templates) words(lang language.Tag) *words {
	if w, ok := t.sayers.Load(lang); ok {
		return w.(*words)
	}
	p := i18n.For(lang)
	w, _ := t.sayers.LoadOrStore(lang, &words{p: p, lang: p.Lang()})
	return w.(*words)
}

func (w *words) Lang() string { return w.lang }

func (w *words) Duration(d time.Duration) string {
	if s := w.duration.Load(); s != nil && s.key == d {
		return s.text
	}
	text := w.p.Duration(d)
	w.duration.Store(&said[time.Duration]{d, text})
	return text
}

// DateTime says t to the minute (i18n.Printer.DateTime), so any t of
// the same UTC minute gets the same text.
func (w *words) DateTime(t time.Time) string {
	m := t.UTC().Truncate(time.Minute)
	if s := w.minute.Load(); s != nil && s.key.Equal(m) {
		return s.text
	}
	text := w.p.DateTime(t)
	w.minute.Store(&said[time.Time]{m, text})
	return text
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
