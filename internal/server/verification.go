package server

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/verification"
)

// wireVerification builds the verification flow and mounts its routes;
// registration and settings use the service to send codes to new
// addresses.
func (s *Server) wireVerification(c *components, public *http.ServeMux, site flow.Site, limits *ratelimit.Counter, common func(string, flow.Service[*session.Session]) *flow.Handler[*session.Session]) *verification.Service {
	cfg := s.cfg
	f, m := cfg.SelfService.Flows.Verification, cfg.SelfService.Methods
	reg, set := cfg.SelfService.Flows.Registration, cfg.SelfService.Flows.Settings
	after := resolve(cfg, f.After.DefaultBrowserReturnURL)
	if after == "" {
		after = cfg.DefaultReturnURL()
	}
	svc := &verification.Service{
		Config: verification.Config{
			Site:                    site,
			Enabled:                 f.Enabled,
			Use:                     verification.Method(f.Use),
			CodeEnabled:             m.Code.Enabled,
			LinkEnabled:             m.Link.Enabled,
			LinkLifespan:            m.Link.Config.Lifespan,
			RequireConfirmation:     m.Link.Config.RequireConfirmation,
			FlowLifespan:            f.Lifespan,
			CodeLifespan:            m.Code.Config.Lifespan,
			MaxSubmissions:          m.Code.Config.MaxSubmissions,
			NotifyUnknownRecipients: f.NotifyUnknownRecipients,
			PerAddress:              limit(cfg.SelfService.Flows.Recovery.RateLimit.PerAddress),
			PerIP:                   limit(cfg.SelfService.Flows.Recovery.RateLimit.PerIP),
			UIURL:                   cfg.UIURLs().Verification,
			AfterReturnURL:          after,
			ShowUIAfterRegistration: config.HasHook(reg.After.Password.Hooks, config.HookShowVerificationUI) || config.HasHook(reg.After.Hooks, config.HookShowVerificationUI),
			ShowUIAfterSettings:     config.HasHook(set.After.Profile.Hooks, config.HookShowVerificationUI) || config.HasHook(set.After.Hooks, config.HookShowVerificationUI),
			LinkBaseURL:             cfg.LinkBaseURL(),
		},
		Tx:         s.db,
		Flows:      c.flows,
		Store:      sqlstore.NewVerificationStore(s.db),
		Identities: c.identities,
		Mail:       c.queue,
		Limits:     limits,
		Hasher:     c.codes,
		SchemaURL:  func(id string) string { return identity.SchemaURL(cfg.Serve.Public.BaseURL, id) },
		Audit:      c.audit,
		Log:        s.log,
		Hooks:      c.hooks.verification,
	}
	// Email submissions are finished by the courier (verification/request.go).
	c.dispatcher.SetPreparer(courier.TemplateVerificationRequest, svc.PrepareRequest)
	(&verification.Handler{Service: svc, Common: common("verification", svc)}).Register(public)
	return svc
}
