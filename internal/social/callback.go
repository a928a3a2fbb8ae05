package social

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oidc"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Sessions is what the callback and the exchange need of session.Manager.
type Sessions interface {
	// FromRequest is the request's active session; session.ErrNoActiveSession without one.
	FromRequest(ctx context.Context, r *http.Request) (*session.Session, error)
	// Get loads a session by id.
	Get(ctx context.Context, id uuid.UUID) (*session.Session, error)
	// JSON is the session object of API responses.
	JSON(s *session.Session) any
}

// Errors of the callback before the trip's flow is known (Kratos's reasons).
var (
	errNoState          = httpx.ErrBadRequest("Unable to complete OpenID Connect flow because the OpenID Provider did not return the state query parameter.")
	errBadState         = httpx.ErrBadRequest("Unable to complete OpenID Connect flow because the state parameter is invalid.")
	errProviderMismatch = httpx.ErrBadRequest("Unable to complete OpenID Connect flow: provider mismatch between internal state and URL.")
	errOtherBrowser     = httpx.ErrBadRequest("Unable to complete OpenID Connect flow because the query state parameter does not match the state parameter from the session cookie.")
	errStateUsed        = httpx.ErrBadRequest("Unable to complete OpenID Connect flow because this sign-in was completed already. Please start again.")
)

// Callback handles GET (and form_post POST)
// /self-service/methods/oidc/callback/{provider}: the browser coming back
// from the provider. It is always a browser navigation, so it is always
// answered with redirects, whatever the flow's type.
func (s *Service) Callback(w http.ResponseWriter, r *http.Request) {
	q := s.CSRF.ReadRequest(r)
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil {
			q.Query = r.Form
		}
	}
	res, err := s.callback(r.Context(), r, q)
	s.Respond.Answer(w, r, q, flow.BrowserForm, res, err)
}

func (s *Service) callback(ctx context.Context, r *http.Request, q *flow.Request) (*flow.Result, error) {
	state := q.Query.Get("state")
	if state == "" {
		return nil, errNoState
	}
	rt, err := s.Store.RoundTripByState(ctx, s.Hasher.Candidates(state))
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, errBadState
	}
	if err != nil {
		return nil, err
	}
	if rt.Provider != r.PathValue("provider") {
		return nil, errProviderMismatch
	}
	// A trip started in one browser finishes only in that browser: a
	// state planted in a victim's browser (login CSRF) is refused.
	if rt.Browser != "" && !secret.Equal(q.CSRF.Fingerprint(), rt.Browser) {
		return nil, errOtherBrowser
	}
	if !s.now().Before(rt.ExpiresAt) {
		return nil, httpx.ErrGone("The sign-in took too long and its flow expired. Please start again.").WithID("self_service_flow_expired")
	}
	if ok, err := s.Store.SpendRoundTrip(ctx, rt.ID, s.now()); err != nil {
		return nil, err
	} else if !ok {
		return nil, errStateUsed
	}
	c, ok := s.Completers[rt.FlowKind]
	if !ok {
		return nil, fmt.Errorf("social round trip %s: no completer for flow kind %q", rt.ID, rt.FlowKind)
	}
	sess, err := s.Sessions.FromRequest(ctx, r)
	if errors.Is(err, session.ErrNoActiveSession) {
		sess = nil
	} else if err != nil {
		return nil, err
	}
	p, ok := s.Providers.Get(rt.Provider)
	if !ok {
		return c.FailSocial(ctx, q, rt.FlowID, flow.MsgGeneric(errUnknownProvider(rt.Provider).Reason), sess)
	}
	if e := q.Query.Get("error"); e != "" {
		return c.FailSocial(ctx, q, rt.FlowID, flow.MsgGeneric(fmt.Sprintf(
			"Unable to complete OpenID Connect flow because the OpenID Provider returned error %q: %s", e, q.Query.Get("error_description"))), sess)
	}
	code := q.Query.Get("code")
	if code == "" {
		return c.FailSocial(ctx, q, rt.FlowID, flow.MsgGeneric("Unable to complete OpenID Connect flow because the OpenID Provider did not return the code query parameter."), sess)
	}
	plain, err := s.Sealer.Open(rt.Sealed, []byte(rt.ID.String()))
	if err != nil {
		return nil, fmt.Errorf("open social round trip %s: %w", rt.ID, err)
	}
	var sealed sealedTrip
	if err := json.Unmarshal(plain, &sealed); err != nil {
		return nil, fmt.Errorf("decode social round trip %s: %w", rt.ID, err)
	}
	req := oidc.AuthRequest{State: state, Nonce: sealed.Nonce, PKCEVerifier: sealed.Verifier, RedirectURI: s.CallbackURL + p.ID()}
	claims, _, err := p.Exchange(ctx, req, code)
	if err != nil {
		err = s.providerFailed(p, err)
		var fm *FlowMessage
		if errors.As(err, &fm) {
			return c.FailSocial(ctx, q, rt.FlowID, fm.Msg, sess)
		}
		return nil, err
	}
	return c.CompleteSocial(ctx, q, rt.FlowID, &External{Provider: p, Subject: claims.Subject, Claims: claims}, sess)
}
