package flow

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/latchkey/latchkey/internal/httpx"
)

// Request is everything a flow service may know about the HTTP request it
// serves, read once by ReadRequest. Services receive it instead of the
// request: they never see *http.Request and never call back into a
// handler.
type Request struct {
	// URL is the full URL as the client called it (RequestURL).
	URL string
	// Query is the URL's query (return_to, refresh, aal, flow, token).
	Query url.Values
	// JSON: the client wants JSON answers to submissions (SPA or native)
	// rather than redirects (httpx.IsJSONRequest).
	JSON bool
	// AcceptsJSON: the client prefers JSON to HTML when it starts a flow
	// or opens a link (httpx.AcceptsJSON).
	AcceptsJSON bool
	// Caller is who sent the request: IP, user agent, device address.
	Caller httpx.Caller
	// BrowserSignals is why the request looks like a browser's (cookies or
	// an Origin header), nil when it does not. An API flow refuses such
	// requests: they would drive it without CSRF protection.
	BrowserSignals error
	// CSRF is the anti-CSRF state: the cookie's token, the submitted one,
	// and a token to set with the answer.
	CSRF *CSRFState
	// Method and Header are the request's, for web_hooks (ctx.request_method,
	// ctx.request_headers filtered by an allowlist, ctx.request_cookies).
	Method string
	Header http.Header
}

// ReadRequest turns r into a Request: the one HTTP adapter of every flow.
func (c *CSRF) ReadRequest(r *http.Request) *Request {
	return &Request{
		URL:            RequestURL(r),
		Query:          r.URL.Query(),
		JSON:           httpx.IsJSONRequest(r),
		AcceptsJSON:    httpx.AcceptsJSON(r),
		Caller:         httpx.CallerOf(r),
		BrowserSignals: browserSignals(r),
		CSRF:           c.State(r),
		Method:         r.Method,
		Header:         r.Header,
	}
}

// ClientFor is how to answer a submission to a flow of type t: native
// apps always with JSON, browsers with JSON when they asked for it, with
// redirects otherwise. This is the one place that makes that choice.
func (q *Request) ClientFor(t Type) Client {
	switch {
	case t == TypeAPI:
		return Native
	case q.JSON:
		return SPA
	}
	return BrowserForm
}

// InitClient is how to answer a request that starts a browser flow or
// opens a link: an SPA asks for JSON in its Accept header; anything else
// is a browser that follows redirects.
func (q *Request) InitClient() Client {
	if q.AcceptsJSON {
		return SPA
	}
	return BrowserForm
}

// RequestURL rebuilds the full URL of the request as the client saw it
// (X-Forwarded-Proto/Host respected), as flows record it.
func RequestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = h
	}
	return scheme + "://" + host + r.URL.RequestURI()
}

// browserSignals is Kratos's error for a request to an API flow that
// carries cookies or an Origin header, nil for a request without them.
func browserSignals(r *http.Request) error {
	var found []string
	for _, c := range r.Cookies() {
		n := c.Name
		if strings.HasPrefix(n, "__cf") || strings.HasPrefix(n, "_cf") || strings.HasPrefix(n, "cf_") {
			continue // Cloudflare's own cookies are added by the edge, not by a browser page
		}
		found = append(found, n)
	}
	if len(found) > 0 {
		sort.Strings(found)
		return httpx.ErrBadRequest("The HTTP Request Header included the \"Cookie\" key, indicating that this request was made by a Browser. The flow however was initiated as an API request. To prevent potential misuse and mitigate several attack vectors including CSRF, the request has been blocked. Please consult the documentation.").
			WithDetail("found cookies", found)
	}
	if r.Header.Get("Origin") != "" {
		return httpx.ErrBadRequest("The HTTP Request Header included the \"Origin\" key, indicating that this request was made as part of an AJAX request in a Browser. The flow however was initiated as an API request. To prevent potential misuse and mitigate several attack vectors including CSRF, the request has been blocked. Please consult the documentation.")
	}
	return nil
}
