package webui

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/i18n"
)

// sessionJSON is the part of a session the account page shows.
type sessionJSON struct {
	ID                          string    `json:"id"`
	AuthenticatedAt             time.Time `json:"authenticated_at"`
	ExpiresAt                   time.Time `json:"expires_at"`
	AuthenticatorAssuranceLevel string    `json:"authenticator_assurance_level"`
	AuthenticationMethods       []struct {
		Method string `json:"method"`
	} `json:"authentication_methods"`
	Identity *struct {
		ID       string         `json:"id"`
		SchemaID string         `json:"schema_id"`
		Traits   map[string]any `json:"traits"`
	} `json:"identity"`
	Devices []struct {
		UserAgent string `json:"user_agent"`
		IPAddress string `json:"ip_address"`
	} `json:"devices"`
}

// welcomeView is the signed-in person's account page.
type welcomeView struct {
	Account    string
	IdentityID string
	SchemaID   string
	Traits     []detail
	Current    sessionView
	Others     []sessionView
	LogoutURL  string
	// RevokeToken goes into each "Log out this device" form (sessions.go).
	RevokeToken string
	// Revoked confirms a device was just logged out.
	Revoked bool
}

// sessionView is one session as the account page lists it.
type sessionView struct {
	ID        string
	Device    string
	IP        string
	SignedIn  string
	ExpiresAt string
	Methods   string
	AAL       string
	// RawMethods are the API's method names, for developers.
	RawMethods string
}

// welcome serves /ui/welcome, the account page: who is signed in, their
// sessions (each other one with a way to log it out), and the way out.
// Without a session the browser is sent to sign in.
func (h *Handler) welcome(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	s := v.Session
	if s == nil {
		// whoami may name where to go instead (a second factor to enter).
		if v.Redirect != "" {
			http.Redirect(w, r, v.Redirect, http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, h.base+"login", http.StatusSeeOther)
		return
	}
	p := v.P
	wv := &welcomeView{
		Account:   accountName(s, p),
		Current:   h.sessionView(p, *s),
		LogoutURL: h.logoutURL(w, r),
		Revoked:   r.URL.Query().Get("revoked") == "1",
	}
	wv.RevokeToken = revokeToken(wv.LogoutURL)
	if s.Identity != nil {
		wv.IdentityID = s.Identity.ID
		wv.SchemaID = s.Identity.SchemaID
		wv.Traits = traitList(p, s.Identity.Traits, h.traitTitles(w, r, s.Identity.SchemaID))
	}
	if others := h.call(w, r, "/sessions"); others.Status == http.StatusOK {
		var list []sessionJSON
		if others.decode(&list) == nil {
			for _, o := range list {
				if o.ID != s.ID {
					wv.Others = append(wv.Others, h.sessionView(p, o))
				}
			}
		}
	}
	h.render(w, r, http.StatusOK, "welcome", page{Title: p.T("account.welcome.title"), Welcome: wv})
}

func (h *Handler) sessionView(p *i18n.Printer, s sessionJSON) sessionView {
	var methods, raw []string
	for _, m := range s.AuthenticationMethods {
		methods = append(methods, methodName(p, m.Method))
		raw = append(raw, m.Method)
	}
	v := sessionView{
		ID:         s.ID,
		SignedIn:   h.when(p, s.AuthenticatedAt),
		ExpiresAt:  h.when(p, s.ExpiresAt),
		Methods:    strings.Join(methods, ", "),
		AAL:        s.AuthenticatorAssuranceLevel,
		RawMethods: strings.Join(raw, ", "),
		Device:     p.T("account.device.unknown"),
	}
	if len(s.Devices) > 0 {
		// The newest device is where the session was last used.
		d := s.Devices[len(s.Devices)-1]
		v.Device = deviceName(p, d.UserAgent)
		v.IP = hostOnly(d.IPAddress)
	}
	return v
}

// hostOnly drops the port the client address may carry ("10.0.0.2:51234",
// "[::1]:51234").
func hostOnly(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// methodName says how a session was authenticated, in words.
func methodName(p *i18n.Printer, m string) string {
	if key := "account.method." + m; p.Has(key) {
		return p.T(key)
	}
	return strings.ReplaceAll(m, "_", " ")
}

// accountName is how the header and pages name the signed-in person:
// their email address, username or phone number trait, else the first
// text trait, else "your account".
func accountName(s *sessionJSON, p *i18n.Printer) string {
	if s.Identity != nil {
		t := s.Identity.Traits
		for _, k := range []string{"email", "username", "phone"} {
			if v, ok := t[k].(string); ok && v != "" {
				return v
			}
		}
		for _, k := range sortedKeys(t) {
			if v, ok := t[k].(string); ok && v != "" && k != "locale" {
				return v
			}
		}
	}
	return p.T("account.header.your_account")
}

// traitTitles maps dotted trait keys ("email", "name.first") to the titles
// the identity schema gives them, asked of the public API's GET
// /schemas/{id}. A schema that cannot be read gives no titles.
func (h *Handler) traitTitles(w http.ResponseWriter, r *http.Request, schemaID string) map[string]string {
	titles := map[string]string{}
	if schemaID == "" {
		return titles
	}
	res := h.call(w, r, "/schemas/"+url.PathEscape(schemaID))
	var schema struct {
		Properties struct {
			Traits schemaNode `json:"traits"`
		} `json:"properties"`
	}
	if res.Status != http.StatusOK || res.decode(&schema) != nil {
		return titles
	}
	schema.Properties.Traits.collect("", titles)
	return titles
}

// schemaNode is the part of a JSON schema that names properties.
type schemaNode struct {
	Title      string                `json:"title"`
	Properties map[string]schemaNode `json:"properties"`
}

func (n schemaNode) collect(prefix string, into map[string]string) {
	for k, child := range n.Properties {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if child.Title != "" {
			into[key] = child.Title
		}
		child.collect(key, into)
	}
}

// traitList lists traits in key order as title → value; a trait without
// a title keeps its dotted key.
func traitList(p *i18n.Printer, traits map[string]any, titles map[string]string) []detail {
	var out []detail
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for _, k := range sortedKeys(m) {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if sub, ok := m[k].(map[string]any); ok {
				walk(key, sub)
				continue
			}
			name := titles[key]
			if name == "" {
				name = key
			}
			out = append(out, detail{Key: name, Value: traitValue(p, m[k])})
		}
	}
	walk("", traits)
	return out
}

// traitValue writes a trait's value for a person: lists joined, yes/no
// for booleans.
func traitValue(p *i18n.Printer, v any) string {
	switch t := v.(type) {
	case bool:
		if t {
			return p.T("account.yes")
		}
		return p.T("account.no")
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = traitValue(p, e)
		}
		return strings.Join(parts, ", ")
	case nil:
		return ""
	}
	return detailString(v)
}
