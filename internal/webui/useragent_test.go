package webui

import (
	"testing"

	"github.com/latchkey/latchkey/internal/i18n"
	"golang.org/x/text/language"
)

// TestDeviceName: real User-Agent strings read as the device a person
// recognises; programs keep their name; anything else is "Unknown device".
func TestDeviceName(t *testing.T) {
	en := i18n.For(language.English)
	for _, c := range []struct{ ua, want string }{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", "Safari on iPhone"},
		{"Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome on iPad"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/132.0 Mobile/15E148 Safari/605.1.15", "Firefox on iPhone"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"},
		{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera on Windows"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on ChromeOS"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome on Linux"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", "Browser on iPhone"},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Unknown device"},
		{"curl/8.5.0", "curl"},
		{"latchkey-cli/1.4.0 (linux; amd64)", "latchkey-cli"},
		{"Latchkey CLI", "Unknown device"},
		{"", "Unknown device"},
	} {
		if got := deviceName(en, c.ua); got != c.want {
			t.Errorf("%q: %q, want %q", c.ua, got, c.want)
		}
	}
	de := i18n.For(language.German)
	if got := deviceName(de, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"); got != "Firefox auf Linux" {
		t.Errorf("German: %q", got)
	}
	if got := deviceName(de, ""); got != "Unbekanntes Gerät" {
		t.Errorf("German unknown: %q", got)
	}
}

// TestHostOnly: the sessions list shows the client address without the
// port Kratos stores with it.
func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.2:51234": "10.0.0.2", "[::1]:4433": "::1", "2001:db8::1": "2001:db8::1", "203.0.113.9": "203.0.113.9", "": "",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
