package social

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oidc"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// sealedTrip is what a round trip keeps sealed: what the callback needs
// and nobody may read at rest.
type sealedTrip struct {
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier,omitempty"`
}

// upstreamParameters are the authorization request parameters a
// submission may pass through (Kratos's upstream_parameters).
var upstreamParameters = []string{"login_hint", "hd", "prompt", "acr_values", "auth_type"}

// Begin starts a trip to provider for flow f of kind: it stores the trip
// and returns a *flow.Away naming the provider's authorization URL. A
// browser flow's trip is bound to the browser's anti-CSRF token (f.CSRF,
// which the submission just proved); an app's flow must have asked for a
// session token exchange code, which binds the trip instead. upstream are
// the submission's upstream_parameters. An unreachable provider is
// *FlowMessage (shown on the flow).
func (s *Service) Begin(ctx context.Context, f *flow.Base, kind, provider string, upstream map[string]string) error {
	p, ok := s.Providers.Get(provider)
	if !ok {
		return errUnknownProvider(provider)
	}
	browser := f.CSRF
	if f.Type == flow.TypeAPI {
		if _, err := s.Store.ExchangeOfFlow(ctx, f.ID); errors.Is(err, storeerr.ErrNotFound) {
			return &FlowMessage{Msg: flow.MsgGeneric("A native app signs in with a provider through the system browser: create the flow with return_session_token_exchange_code=true (and a return_to), or submit the provider's id_token.")}
		} else if err != nil {
			return err
		}
	} else if browser == "" {
		return httpx.ErrBadRequest("This flow is not bound to a browser.")
	}
	pkce, err := p.UsesPKCE(ctx)
	if err != nil {
		return s.providerFailed(p, err)
	}
	state := secret.RandomAlphanumeric(43)
	req := oidc.AuthRequest{State: state, Nonce: secret.RandomAlphanumeric(32), RedirectURI: s.CallbackURL + p.ID()}
	if pkce {
		req.PKCEVerifier = oidc.NewPKCEVerifier()
	}
	rt := &RoundTrip{
		ID: uuid.New(), StateHash: s.Hasher.Hash(state), FlowID: f.ID, FlowKind: kind, Provider: p.ID(),
		Browser: browser, ExpiresAt: f.ExpiresAt, CreatedAt: s.now(),
	}
	plain, err := json.Marshal(sealedTrip{Nonce: req.Nonce, Verifier: req.PKCEVerifier})
	if err != nil {
		return err
	}
	rt.Sealed = s.Sealer.Seal(plain, []byte(rt.ID.String()))
	to, err := p.AuthCodeURL(ctx, req)
	if err != nil {
		return s.providerFailed(p, err)
	}
	if err := s.Store.CreateRoundTrip(ctx, rt); err != nil {
		return fmt.Errorf("store social round trip: %w", err)
	}
	return &flow.Away{URL: withUpstream(to, upstream)}
}

// withUpstream adds the allowed upstream parameters to the
// authorization URL.
func withUpstream(to string, upstream map[string]string) string {
	if len(upstream) == 0 {
		return to
	}
	u, err := url.Parse(to)
	if err != nil {
		return to
	}
	q := u.Query()
	for _, k := range upstreamParameters {
		if v := strings.TrimSpace(upstream[k]); v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Upstream reads upstream_parameters from a submission.
func Upstream(body *httpx.FormBody) map[string]string {
	out := map[string]string{}
	if raw, ok := body.Raw["upstream_parameters"]; ok && body.JSON {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			for k, v := range m {
				if s, ok := v.(string); ok {
					out[k] = s
				}
			}
		}
		return out
	}
	for _, k := range upstreamParameters {
		if v := body.Get("upstream_parameters." + k); v != "" {
			out[k] = v
		}
	}
	return out
}

// FlowMessage is a failure the flow shows as a message (the provider is
// down, say) rather than an error page.
type FlowMessage struct{ Msg flow.Message }

func (e *FlowMessage) Error() string { return e.Msg.Text }

// ShowOn puts a FlowMessage err on the flow's UI and returns nil; any
// other err comes back as it is.
func ShowOn(ui *flow.Container, err error) error {
	var fm *FlowMessage
	if errors.As(err, &fm) {
		ui.AddMessage(fm.Msg)
		return nil
	}
	return err
}

// providerFailed logs a provider failure and turns it into the message
// the flow shows: no detail a user cannot act on, nothing secret.
func (s *Service) providerFailed(p *Provider, err error) error {
	var oe *oidc.Error
	if !errors.As(err, &oe) {
		return err
	}
	if s.Log != nil {
		s.Log.Warn("social sign-in provider failed", "provider", p.ID(), "error", oe.Error())
	}
	switch oe.Kind {
	case oidc.KindUnavailable:
		return &FlowMessage{Msg: flow.MsgGeneric(fmt.Sprintf("%s could not be reached. Please try again in a moment.", p.Label()))}
	case oidc.KindIDTokenUnsupported:
		// Kratos answers 502, but nothing upstream failed: the client
		// asked for what this provider cannot do.
		return httpx.ErrBadRequest(oe.Reason)
	}
	return &FlowMessage{Msg: flow.MsgGeneric(fmt.Sprintf("Signing in with %s failed: %s", p.Label(), oe.Reason))}
}

// VerifyIDToken is the id_token submission of a native app: the token the
// app obtained from provider itself, checked with the provider's keys
// (nonce when given).
func (s *Service) VerifyIDToken(ctx context.Context, provider, idToken, nonce string) (*External, error) {
	p, ok := s.Providers.Get(provider)
	if !ok {
		return nil, errUnknownProvider(provider)
	}
	claims, err := p.VerifyIDToken(ctx, idToken, nonce)
	if err != nil {
		return nil, s.providerFailed(p, err)
	}
	return &External{Provider: p, Subject: claims.Subject, Claims: claims}, nil
}
