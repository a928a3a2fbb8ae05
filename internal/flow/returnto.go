package flow

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/internal/httpx"
)

// ReturnToPolicy decides which return_to URLs a flow may redirect to, so
// Latchkey is never an open redirector.
type ReturnToPolicy struct {
	// Allowed are the selfservice.allowed_return_urls: scheme + host must
	// match (a "*." host prefix matches subdomains) and the path must start
	// with the allowed path.
	Allowed []*url.URL
	// PublicBase is always allowed (the public self-service URLs).
	PublicBase *url.URL
	// DefaultReturn resolves relative return_to values
	// (selfservice.default_browser_return_url).
	DefaultReturn *url.URL
	// OwnPages are UI pages Latchkey itself sends browsers back to (the
	// settings UI after a recovery's aal2 step-up): allowed with any
	// query even when allowed_return_urls does not list them, since the
	// operator configured them as this server's UI.
	OwnPages []*url.URL
}

// Validate returns the absolute return_to to use, or a 400
// self_service_flow_return_to_forbidden error. An empty value is allowed.
func (p ReturnToPolicy) Validate(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", forbiddenReturnTo(raw)
	}
	if !u.IsAbs() {
		base := p.DefaultReturn
		if base == nil {
			base = p.PublicBase
		}
		if base == nil || strings.HasPrefix(raw, "//") {
			return "", forbiddenReturnTo(raw)
		}
		u = base.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", forbiddenReturnTo(raw)
	}
	u.RawQuery = escapeQuery(u.RawQuery)
	if p.PublicBase != nil && matchesURL(p.PublicBase, u) {
		return u.String(), nil
	}
	if p.DefaultReturn != nil && sameOrigin(p.DefaultReturn, u) {
		return u.String(), nil
	}
	for _, own := range p.OwnPages {
		if own != nil && sameOrigin(own, u) && own.Path == u.Path {
			return u.String(), nil
		}
	}
	for _, a := range p.Allowed {
		if matchesURL(a, u) {
			return u.String(), nil
		}
	}
	return "", forbiddenReturnTo(raw)
}

// ValidOr returns the validated return_to, or fallback when raw is empty
// or not allowed (where a browser that already has a session is sent).
func (p ReturnToPolicy) ValidOr(raw, fallback string) string {
	if to, err := p.Validate(raw); err == nil && to != "" {
		return to
	}
	return fallback
}

// escapeQuery percent-encodes what may not appear in a URI's query (a
// space, quotes, angle brackets, non-ASCII...): url.URL.String writes the
// query as it came, and the result goes into a Location header and links.
func escapeQuery(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>\\^`{|}", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func sameOrigin(a, u *url.URL) bool {
	return strings.EqualFold(a.Scheme, u.Scheme) && strings.EqualFold(a.Host, u.Host)
}

func matchesURL(allowed, u *url.URL) bool {
	if !strings.EqualFold(allowed.Scheme, u.Scheme) {
		return false
	}
	ah, uh := strings.ToLower(allowed.Host), strings.ToLower(u.Host)
	if strings.HasPrefix(ah, "*.") {
		suffix := ah[1:] // ".example.com"
		if !strings.HasSuffix(uh, suffix) || len(uh) == len(suffix) {
			return false
		}
	} else if ah != uh {
		return false
	}
	return strings.HasPrefix(u.Path, allowed.Path)
}

func forbiddenReturnTo(raw string) *httpx.Error {
	return &httpx.Error{
		ID:      "self_service_flow_return_to_forbidden",
		Code:    http.StatusBadRequest,
		Reason:  "Requested return_to URL \"" + raw + "\" is not allowed.",
		Message: httpx.MsgBadRequest,
	}
}
