package flow

import "time"

// Site is what every flow reads from the configuration besides its own
// keys; the server fills it in once and each flow's Config embeds it.
type Site struct {
	// PublicBaseURL is serve.public.base_url, ending in "/".
	PublicBaseURL string
	// DefaultBrowserReturnURL is selfservice.default_browser_return_url:
	// where a browser goes when nothing more specific applies.
	DefaultBrowserReturnURL string
	// ReturnTo validates return_to (selfservice.allowed_return_urls).
	ReturnTo ReturnToPolicy
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
}

// Time is the clock's time in UTC.
func (s Site) Time() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Route joins a path to the public base URL.
func (s Site) Route(path string) string { return Route(s.PublicBaseURL, path) }
