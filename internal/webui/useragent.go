package webui

import (
	"strings"

	"github.com/latchkey/latchkey/internal/i18n"
)

// device is what a person recognises of a User-Agent: the browser and the
// operating system ("" when not recognised), or for a program that is no
// browser, its name.
type device struct {
	Browser string
	OS      string
	Program string
}

// uaMatch is one token to look for in a User-Agent and what it means.
type uaMatch struct {
	token string
	name  string
}

// Browsers, most specific first: Edge, Opera and Samsung Internet also
// say "Chrome/" and "Safari/", Chromium and Chrome say "Safari/", and
// only Safari says "Version/" without "Chrome/" (on an iPhone, CriOS and
// FxiOS name the browser; every one of them is Safari underneath).
var uaBrowsers = []uaMatch{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
	{"OPR/", "Opera"}, {"OPiOS/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"},
	{"Version/", "Safari"},
}

// Systems, most specific first: an iPad says "like Mac OS X", Android and
// ChromeOS say "Linux".
var uaSystems = []uaMatch{
	{"iPhone", "iPhone"}, {"iPad", "iPad"},
	{"Android", "Android"}, {"CrOS", "ChromeOS"},
	{"Windows", "Windows"}, {"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
	{"Linux", "Linux"}, {"X11", "Linux"},
}

// parseUserAgent recognises the common browsers and systems by their
// tokens. It is for showing a session to its owner, never for a decision.
func parseUserAgent(ua string) device {
	var d device
	if strings.HasPrefix(ua, "Mozilla/") {
		d.Browser = firstMatch(ua, uaBrowsers)
		d.OS = firstMatch(ua, uaSystems)
		return d
	}
	// A program ("curl/8.5.0", "latchkey-cli/1.2 (linux)"): its name.
	name, _, _ := strings.Cut(ua, "/")
	name = strings.TrimSpace(name)
	if name != "" && len(name) <= 40 && !strings.ContainsAny(name, " ;()") {
		d.Program = name
	}
	return d
}

func firstMatch(ua string, table []uaMatch) string {
	for _, m := range table {
		if strings.Contains(ua, m.token) {
			return m.name
		}
	}
	return ""
}

// deviceName is how the sessions list names a device: "Chrome on
// Windows", "Safari on iPhone", "Firefox", "curl", or "Unknown device".
func deviceName(p *i18n.Printer, ua string) string {
	d := parseUserAgent(ua)
	switch {
	case d.Browser != "" && d.OS != "":
		return p.T("account.device.browser_on_os", "browser", d.Browser, "os", d.OS)
	case d.Browser != "":
		return d.Browser
	case d.OS != "":
		return p.T("account.device.browser_on_os", "browser", p.T("account.device.a_browser"), "os", d.OS)
	case d.Program != "":
		return d.Program
	}
	return p.T("account.device.unknown")
}
