package webui

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// The page colours brand.css is measured against (style.css): the card
// and page backgrounds in light mode, and in dark mode.
var (
	lightBackgrounds = []rgb{{0xff, 0xff, 0xff}, {0xf4, 0xf5, 0xf7}}
	darkBackgrounds  = []rgb{{0x1f, 0x22, 0x28}, {0x15, 0x17, 0x1b}}
	white            = rgb{0xff, 0xff, 0xff}
	black            = rgb{0x00, 0x00, 0x00}
)

// aaContrast is WCAG 2's AA contrast for normal text.
const aaContrast = 4.5

// rgb is a colour of 8-bit channels.
type rgb struct{ R, G, B uint8 }

// parseHexColor reads #rgb or #rrggbb (config validates the form).
func parseHexColor(s string) (rgb, bool) {
	s = strings.TrimPrefix(s, "#")
	if len(s) == 3 {
		s = string([]byte{s[0], s[0], s[1], s[1], s[2], s[2]})
	}
	if len(s) != 6 {
		return rgb{}, false
	}
	n, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return rgb{}, false
	}
	return rgb{uint8(n >> 16), uint8(n >> 8), uint8(n)}, true
}

func (c rgb) String() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// luminance is WCAG 2's relative luminance.
func (c rgb) luminance() float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// contrast is WCAG 2's contrast ratio of two colours (1 to 21).
func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// textOn is the text colour for a button of colour bg: white or black,
// whichever contrasts more. One of them always reaches AA (at worst
// about 4.58:1, for a background of luminance ≈ 0.18).
func textOn(bg rgb) rgb {
	if contrast(white, bg) >= contrast(black, bg) {
		return white
	}
	return black
}

// towards mixes c with target by t (0 keeps c, 1 gives target).
func towards(c, target rgb, t float64) rgb {
	mix := func(a, b uint8) uint8 { return uint8(math.Round(float64(a) + (float64(b)-float64(a))*t)) }
	return rgb{mix(c.R, target.R), mix(c.G, target.G), mix(c.B, target.B)}
}

// readableOn is c, darkened or lightened towards target just enough for
// AA contrast as text on every one of the backgrounds (links).
func readableOn(c, target rgb, backgrounds []rgb) rgb {
	for i := 0; i <= 20; i++ {
		d := towards(c, target, float64(i)/20)
		ok := true
		for _, bg := range backgrounds {
			ok = ok && contrast(d, bg) >= aaContrast
		}
		if ok {
			return d
		}
	}
	return target
}

// brandStylesheet is the stylesheet of ui.brand.primary_color, or "" when
// none is set: buttons in the colour itself with white or black text,
// links in the colour made readable on the page (darker in light mode,
// lighter in dark mode). It is a stylesheet of its own because the
// pages' Content-Security-Policy allows no inline style.
func brandStylesheet(primary string) string {
	c, ok := parseHexColor(primary)
	if !ok {
		return ""
	}
	rule := func(link rgb) string {
		return fmt.Sprintf(":root { --accent: %s; --button-bg: %s; --button-text: %s; }", link, c, textOn(c))
	}
	return "/* ui.brand.primary_color */\n" + rule(readableOn(c, black, lightBackgrounds)) + "\n" +
		"@media (prefers-color-scheme: dark) {\n  " + rule(readableOn(c, white, darkBackgrounds)) + "\n}\n"
}

// serveBrandCSS serves <base>static/brand.css.
func (h *Handler) serveBrandCSS(w http.ResponseWriter, r *http.Request) {
	if h.brandCSS == "" {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write([]byte(h.brandCSS))
}

// ServeFavicon answers /favicon.ico on the public listener with the
// embedded icon (browsers ask for it at the root whatever the page says).
func ServeFavicon(w http.ResponseWriter, r *http.Request) {
	b, err := assets.ReadFile("static/favicon.ico")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/x-icon")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}
