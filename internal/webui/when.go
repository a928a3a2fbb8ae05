package webui

import (
	"time"

	"github.com/latchkey/latchkey/internal/i18n"
)

// when is a time in p's language: "22 November 2026 at 11:26 UTC
// (5 minutes ago)".
func (h *Handler) when(p *i18n.Printer, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return p.T("account.time.when", "date", p.DateTime(t), "relative", relativeIn(p, t, h.now()))
}

// relativeIn is a rough "3 minutes ago" / "in 2 hours" in p's language.
func relativeIn(p *i18n.Printer, t, now time.Time) string {
	d := now.Sub(t)
	dir := "ago"
	if d < 0 {
		d, dir = -d, "in"
	}
	// Rounded to the nearest unit: a link valid for 7 days less a few
	// seconds is valid "in 7 days", not "in 6 days" (and 59m50s is
	// "1 hour", not "60 minutes").
	in := func(unit time.Duration) int { return int((d + unit/2) / unit) }
	switch {
	case d < time.Minute:
		return p.T("account.time.just_now")
	case in(time.Minute) < 60:
		return p.N("account.time."+dir+".minutes", in(time.Minute))
	case in(time.Hour) < 48:
		return p.N("account.time."+dir+".hours", in(time.Hour))
	}
	return p.N("account.time."+dir+".days", in(24*time.Hour))
}
