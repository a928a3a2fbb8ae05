package webui

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
)

// apiResponse is the public API's answer to an in-process call.
type apiResponse struct {
	Status int
	Body   []byte
}

// call asks the public API for path (GET, JSON) on behalf of the browser's
// request r, as an external UI would over the network: the browser's
// cookies, Host, client address and user agent travel with it, and every
// cookie the API sets (a CSRF cookie, a refreshed session) is passed on to
// the browser.
func (h *Handler) call(w http.ResponseWriter, r *http.Request, path string) apiResponse {
	return h.callMethod(w, r, http.MethodGet, path)
}

// callMethod is call with another method (DELETE /sessions/{id}).
func (h *Handler) callMethod(w http.ResponseWriter, r *http.Request, method, path string) apiResponse {
	req, err := http.NewRequestWithContext(r.Context(), method, path, nil)
	if err != nil {
		return apiResponse{Status: http.StatusInternalServerError}
	}
	req.Host = r.Host
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Accept", "application/json")
	for _, k := range []string{"Cookie", "User-Agent", "Accept-Language", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id"} {
		if v := r.Header.Values(k); len(v) > 0 {
			req.Header[k] = v
		}
	}
	if r.TLS != nil && req.Header.Get("X-Forwarded-Proto") == "" {
		// The inner request has no TLS state of its own; let the API
		// rebuild request URLs with the scheme the browser used.
		req.Header.Set("X-Forwarded-Proto", "https")
	}
	rec := httptest.NewRecorder()
	h.API.ServeHTTP(rec, req)
	// A page may call the API more than once (its visitor, then its
	// flow); a cookie set by both is passed on once.
	for _, c := range rec.Result().Header.Values("Set-Cookie") {
		if !slices.Contains(w.Header().Values("Set-Cookie"), c) {
			w.Header().Add("Set-Cookie", c)
		}
	}
	return apiResponse{Status: rec.Code, Body: rec.Body.Bytes()}
}

// decode reads the JSON body into v.
func (a apiResponse) decode(v any) error {
	dec := json.NewDecoder(bytes.NewReader(a.Body))
	dec.UseNumber()
	return dec.Decode(v)
}

// apiError is the Kratos error envelope, with the top-level keys the UI
// acts on.
type apiError struct {
	Error             errorBody `json:"error"`
	RedirectBrowserTo string    `json:"redirect_browser_to"`
}

// errorBody is the flat error object (also the "error" of an error flow).
type errorBody struct {
	ID      string         `json:"id"`
	Code    int            `json:"code"`
	Status  string         `json:"status"`
	Reason  string         `json:"reason"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// errorOf decodes a non-200 answer. A body that is not the envelope still
// yields the status code.
func (a apiResponse) errorOf() apiError {
	var e apiError
	_ = a.decode(&e)
	if e.Error.Code == 0 {
		e.Error.Code = a.Status
	}
	if e.Error.Status == "" {
		e.Error.Status = http.StatusText(a.Status)
	}
	return e
}

// redirect is where the API tells a browser to go instead of showing the
// error: redirect_browser_to (AAL, re-authentication) or details.redirect_to
// (an expired browser flow names its init endpoint, return_to kept).
func (e apiError) redirect() string {
	if e.RedirectBrowserTo != "" {
		return e.RedirectBrowserTo
	}
	for _, k := range []string{"redirect_browser_to", "redirect_to"} {
		if s, ok := e.Error.Details[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}
