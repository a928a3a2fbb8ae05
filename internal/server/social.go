package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/oidc"
	"github.com/latchkey/latchkey/internal/social"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// providerTimeout bounds each call to a social sign-in provider: a slow
// provider fails the sign-in, it does not hang the request.
const providerTimeout = 10 * time.Second

// wireSocial builds social sign-in (selfservice.methods.oidc): the
// providers, the round trips, the callback and the session token
// exchange. It returns nil when the method is off.
func (s *Server) wireSocial(c *components, public *http.ServeMux, respond *flow.Responder) (*social.Service, error) {
	cfg := s.cfg
	m := cfg.SelfService.Methods.OIDC
	if !m.Enabled {
		return nil, nil
	}
	client := hook.NewEgress(cfg.Clients.HTTP.DisallowPrivateIPRanges, cfg.Clients.HTTP.PrivateIPExceptionURLs).Client()
	client.Timeout = providerTimeout
	var providers social.Providers
	for i, pc := range m.Config.Providers {
		key := fmt.Sprintf("selfservice.methods.oidc.config.providers[%d]", i)
		p, err := oidc.New(pc.ProviderConfig(), client)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		mapper, err := oidc.LoadMapper(pc.MapperURL)
		if err != nil {
			return nil, fmt.Errorf("%s.mapper_url: %w", key, err)
		}
		providers = append(providers, &social.Provider{Provider: p, Mapper: mapper})
	}
	svc := &social.Service{
		Providers:   providers,
		Store:       sqlstore.NewSocialStore(s.db),
		Hasher:      c.codes,
		Sealer:      c.cipher,
		CallbackURL: strings.TrimSuffix(cfg.SocialCallbackURL("x"), "x"),
		Sessions:    c.sessions,
		Respond:     respond,
		CSRF:        c.csrf,
		Log:         s.log,
		Now:         s.now,
		Completers:  map[string]social.Completer{},
	}
	public.HandleFunc("GET /self-service/methods/oidc/callback/{provider}", svc.Callback)
	public.HandleFunc("POST /self-service/methods/oidc/callback/{provider}", svc.Callback)
	public.HandleFunc("GET /sessions/token-exchange", svc.ServeExchange)
	return svc, nil
}

// socialSignInOrigins are where the built-in pages' provider buttons lead
// (the authorization endpoints), for their Content-Security-Policy
// form-action: Chromium applies it to the redirects after a form post.
func socialSignInOrigins(cfg *config.Config) []string {
	m := cfg.SelfService.Methods.OIDC
	if !m.Enabled {
		return nil
	}
	var out []string
	for _, p := range m.Config.Providers {
		switch {
		case p.AuthURL != "":
			out = append(out, p.AuthURL)
		case p.IssuerURL != "":
			out = append(out, p.IssuerURL)
		case p.Provider == "github":
			out = append(out, "https://github.com")
		case p.Provider == "google":
			out = append(out, "https://accounts.google.com")
		}
	}
	return out
}
