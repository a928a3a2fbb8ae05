package webui

import (
	"regexp"
	"testing"
)

// TestBrandColours: whatever the primary colour, button text on it and
// links in it reach WCAG AA (4.5:1) on the pages' backgrounds, in light
// and dark mode.
func TestBrandColours(t *testing.T) {
	decl := regexp.MustCompile(`--accent: (#[0-9a-f]{6}); --button-bg: (#[0-9a-f]{6}); --button-text: (#[0-9a-f]{6});`)
	for _, c := range []struct {
		primary    string
		buttonText string
	}{
		{"#2447c4", "#ffffff"}, // dark blue: white text
		{"#ffcc00", "#000000"}, // yellow: black text
		{"#fff", "#000000"},
		{"#000000", "#ffffff"},
		{"#777777", "#000000"}, // mid grey sits near the worst case
		{"#e0218a", "#000000"},
		{"#0a7f3f", "#ffffff"},
	} {
		css := brandStylesheet(c.primary)
		m := decl.FindAllStringSubmatch(css, -1)
		if len(m) != 2 {
			t.Fatalf("%s: stylesheet:\n%s", c.primary, css)
		}
		want, _ := parseHexColor(c.primary)
		for i, backgrounds := range [][]rgb{lightBackgrounds, darkBackgrounds} {
			link, _ := parseHexColor(m[i][1])
			button, _ := parseHexColor(m[i][2])
			text, _ := parseHexColor(m[i][3])
			if button != want {
				t.Errorf("%s: button colour %s", c.primary, button)
			}
			if text.String() != c.buttonText {
				t.Errorf("%s: button text %s, want %s", c.primary, text, c.buttonText)
			}
			if r := contrast(text, button); r < aaContrast {
				t.Errorf("%s: button text contrast %.2f", c.primary, r)
			}
			for _, bg := range backgrounds {
				if r := contrast(link, bg); r < aaContrast {
					t.Errorf("%s: link %s on %s contrast %.2f", c.primary, link, bg, r)
				}
			}
		}
	}
	if brandStylesheet("") != "" || brandStylesheet("blue") != "" {
		t.Error("a stylesheet without a valid colour")
	}
}

// TestContrast checks the WCAG formula against known ratios.
func TestContrast(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"#000", "#fff", 21}, {"#fff", "#fff", 1}, {"#777", "#fff", 4.48}, {"#2447c4", "#fff", 7.6},
	} {
		a, _ := parseHexColor(c.a)
		b, _ := parseHexColor(c.b)
		if got := contrast(a, b); got < c.want-0.05 || got > c.want+0.05 {
			t.Errorf("%s on %s: %.2f, want %.2f", c.a, c.b, got, c.want)
		}
	}
}
