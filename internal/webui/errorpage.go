package webui

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// errorView is an API error shown to a person: a heading and sentence
// they can act on, a button to go on, and the technical details (folded
// away) for whoever helps them.
type errorView struct {
	Heading string
	// Text is the sentence under the heading; Alert marks it as the API's
	// own (technical) explanation, shown as an error message.
	Text  string
	Alert bool
	// Actions are the buttons; the first is the way on.
	Actions []action

	// The technical details.
	Message string
	Reason  string
	Code    int
	Status  string
	ID      string
	Docs    string
	Details []detail
	// Ref is the stored error's id (/ui/error?id=), for a support request.
	Ref string

	raw errorBody
}

// detail is one entry of an error's details.
type detail struct {
	Key   string
	Value string
}

// buildErrorView keeps what the API said; render (explainError) writes
// it for the visitor in their language.
func buildErrorView(e errorBody) *errorView {
	v := &errorView{Message: e.Message, Reason: e.Reason, Code: e.Code, Status: e.Status, ID: e.ID, raw: e}
	if v.Status == "" {
		v.Status = http.StatusText(e.Code)
	}
	for _, k := range sortedKeys(e.Details) {
		val := detailString(e.Details[k])
		if k == "docs" && safeRedirect(val) {
			v.Docs = val
			continue
		}
		v.Details = append(v.Details, detail{Key: k, Value: val})
	}
	return v
}

// errorPage serves /ui/error?id=: the error a browser flow stored before
// sending the browser here.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request) {
	p := h.visitor(w, r).P
	id := r.URL.Query().Get("id")
	if id == "" {
		id = r.URL.Query().Get("error")
	}
	notFound := func(text string) {
		h.render(w, r, http.StatusNotFound, "message", page{
			Title:   p.T("account.error.not_found.title"),
			Message: &messagePage{Heading: p.T("account.error.not_found.title"), Text: p.T(text)},
		})
	}
	if id == "" {
		notFound("account.error.not_found.no_id")
		return
	}
	res := h.call(w, r, "/self-service/errors?id="+url.QueryEscape(id))
	if res.Status != http.StatusOK {
		notFound("account.error.not_found.gone")
		return
	}
	var ef struct {
		ID    string    `json:"id"`
		Error errorBody `json:"error"`
	}
	if err := res.decode(&ef); err != nil {
		h.showAPIError(w, r, apiError{Error: errorBody{Code: http.StatusBadGateway, Message: "The error could not be read."}})
		return
	}
	v := buildErrorView(ef.Error)
	v.Ref = ef.ID
	h.render(w, r, http.StatusOK, "error", page{Error: v})
}

// Errors a person can recover from by starting over.
const (
	errCSRF    = "security_csrf_violation"
	errExpired = "self_service_flow_expired"
)

// missingFlowReason is the API's reason for a form posted to a flow it
// does not know (Kratos's fixed text, which names the flow).
var missingFlowReason = regexp.MustCompile(`^The (login|registration|recovery|settings|verification) request could not be found`)

// explainError writes v for the visitor: a stale form (CSRF), an expired
// or a missing flow gets a plain heading and a button that restarts the
// flow (with its return_to, when known); any other error keeps the API's
// explanation and offers the way home.
func (h *Handler) explainError(w http.ResponseWriter, r *http.Request, vis *visitor, v *errorView) {
	p := vis.P
	e := v.raw
	restart, kind := h.restartOf(r, e)
	switch {
	case e.ID == errCSRF:
		v.Heading = p.T("account.error.stale.title." + kindOr(kind, "any"))
		v.Text = p.T("account.error.stale.text")
	case e.ID == errExpired || e.Code == http.StatusGone:
		v.Heading = p.T("account.error.expired.title")
		v.Text = p.T("account.error.expired.text")
	case e.Code == http.StatusNotFound && missingFlowReason.MatchString(e.Reason):
		v.Heading = p.T("account.error.stale.title." + kindOr(kind, "any"))
		v.Text = p.T("account.error.missing.text")
	default:
		v.Heading = p.T(genericHeading(e))
		v.Text, v.Alert = e.Reason, true
		if v.Text == "" {
			v.Text = e.Message
		}
		restart = ""
	}
	switch {
	case restart != "":
		v.Actions = append(v.Actions, action{Text: p.T("account.error.restart." + kind), Href: restart, ID: "restart", Primary: true})
	case vis.Session != nil:
		v.Actions = append(v.Actions, action{Text: p.T("account.action.go_to_account"), Href: h.base + pathWelcome, ID: "go-to-account", Primary: true})
	default:
		v.Actions = append(v.Actions, action{Text: p.T("account.action.sign_in"), Href: h.base + "login", ID: "sign-in", Primary: true})
	}
	if restart == "" && vis.Session == nil {
		v.Actions = append(v.Actions, action{Text: p.T("account.action.recover"), Href: h.base + "recovery"})
	}
}

func kindOr(kind, fallback string) string {
	if kind == "" {
		return fallback
	}
	return kind
}

// genericHeading is the key of the heading for an error nobody can fix by
// starting over.
func genericHeading(e errorBody) string {
	switch e.Code {
	case http.StatusNotFound:
		return "account.error.generic.not_found"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "account.error.generic.not_allowed"
	}
	return "account.error.generic.title"
}

// restartOf is the UI page that starts the failed flow again, and the
// flow's name, or "" when it is not known. An expired flow's error names
// its init endpoint (details.redirect_to, with return_to and, for sign
// in, refresh and aal); a missing flow's reason names the flow; a stale
// form (CSRF) names nothing, so the flow page the browser showed last
// stands in.
func (h *Handler) restartOf(r *http.Request, e errorBody) (href, kind string) {
	q := url.Values{}
	if to, _ := e.Details["redirect_to"].(string); to != "" {
		if k := initEndpointKind(to); k != nil {
			u, _ := url.Parse(to)
			for _, p := range k.Keep {
				if v := u.Query().Get(p); v != "" {
					q.Set(p, v)
				}
			}
			kind = k.Name
		}
	}
	if kind == "" {
		if m := missingFlowReason.FindStringSubmatch(e.Reason); m != nil && e.Code == http.StatusNotFound {
			kind = m[1]
		}
	}
	last := h.lastFlow(r)
	if kind == "" && (e.ID == errCSRF || e.Code == http.StatusGone) {
		kind = last.Kind
	}
	if kind == "" {
		return "", ""
	}
	if last.Kind == kind && last.ReturnTo != "" && q.Get("return_to") == "" {
		q.Set("return_to", last.ReturnTo)
	}
	href = h.base + kind
	if len(q) > 0 {
		href += "?" + q.Encode()
	}
	return href, kind
}

// initEndpointKind is the flow whose browser init endpoint
// (…/self-service/<flow>/browser) the URL names, or nil.
func initEndpointKind(raw string) *flowKind {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	rest, ok := strings.CutSuffix(u.Path, "/browser")
	i := strings.LastIndex(rest, "/self-service/")
	if !ok || i < 0 {
		return nil
	}
	return findFlowKind(rest[i+len("/self-service/"):])
}
