package server

import (
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/login"
	"github.com/latchkey/latchkey/internal/recovery"
	"github.com/latchkey/latchkey/internal/registration"
	"github.com/latchkey/latchkey/internal/settings"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/webui"
)

// wireFlows builds the self-service flows (login, registration, recovery,
// settings) and the built-in UI.
func (s *Server) wireFlows(c *components, public, admin *http.ServeMux) error {
	cfg := s.cfg
	c.settings = &settings.Service{
		Config:     settingsConfig(cfg, c, s),
		Flows:      c.flows,
		Identities: c.identities,
		Schemas:    c.schemas,
		Sessions:   c.sessions,
		Passwords:  c.hasher,
		Policy:     c.policy,
		Tx:         s.db,
	}
	(&settings.Handler{Service: c.settings, Sessions: c.sessions, CSRF: c.csrf, Errors: c.errors}).RegisterPublic(public)

	recoveries := &recovery.Service{
		Config:     recoveryConfig(cfg, c, s),
		Tx:         s.db,
		Flows:      c.flows,
		Store:      sqlstore.NewRecoveryStore(s.db),
		Identities: c.identities,
		Sessions:   c.sessions,
		Settings:   c.settings,
		Mail:       c.queue,
		Hasher:     c.codes,
		SchemaURL:  func(id string) string { return identity.SchemaURL(cfg.Serve.Public.BaseURL, id) },
	}
	(&recovery.Handler{Service: recoveries, CSRF: c.csrf, Sessions: c.sessions, Errors: c.errors}).Register(public, admin)

	pw := cfg.SelfService.Methods.Password.Enabled
	logins := &login.Service{
		Config: login.Config{
			Lifespan: cfg.SelfService.Flows.Login.Lifespan, PasswordEnabled: pw, SchemaID: cfg.Identity.DefaultSchemaID,
			PublicBaseURL: cfg.Serve.Public.BaseURL, UIURL: cfg.UIURL("login"), DefaultBrowserReturnURL: cfg.DefaultReturnURL(),
			AfterReturnURL: cfg.AfterReturnURL("login", "password"), ReturnTo: c.returnTo, Now: s.now,
		},
		Flows: c.flows, Identities: c.identities, Schemas: c.schemas, Sessions: c.sessions, Passwords: c.hasher, Tx: s.db, CSRF: c.csrf,
	}
	(&login.Handler{Service: logins, Sessions: c.sessions, CSRF: c.csrf, Errors: c.errors}).RegisterPublic(public)

	reg := cfg.SelfService.Flows.Registration
	registrations := &registration.Service{
		Config: registration.Config{
			Enabled: reg.Enabled, Lifespan: reg.Lifespan, PasswordEnabled: pw, SchemaID: cfg.Identity.DefaultSchemaID,
			SessionAfterRegistration: config.HasHook(reg.After.Password.Hooks, config.HookSession) || config.HasHook(reg.After.Hooks, config.HookSession),
			PublicBaseURL:            cfg.Serve.Public.BaseURL, UIURL: cfg.UIURL("registration"), DefaultBrowserReturnURL: cfg.DefaultReturnURL(),
			AfterReturnURL: cfg.AfterReturnURL("registration", "password"), ReturnTo: c.returnTo, Now: s.now,
		},
		Flows: c.flows, Identities: c.identities, Schemas: c.schemas, Sessions: c.sessions, Passwords: c.hasher, Policy: c.policy, Tx: s.db, CSRF: c.csrf,
	}
	(&registration.Handler{Service: registrations, Sessions: c.sessions, CSRF: c.csrf, Errors: c.errors}).RegisterPublic(public)

	// The built-in UI is a client of the public API, called in-process.
	returnURLs := append([]string{}, cfg.SelfService.AllowedReturnURLs...)
	returnURLs = append(returnURLs, cfg.DefaultReturnURL())
	ui := &webui.Handler{
		API:     public,
		Mailbox: webui.CourierMailbox(c.courier),
		Config: webui.Config{
			PublicBaseURL: cfg.Serve.Public.BaseURL,
			Mailbox:       cfg.DevMailbox.Enabled,
			ProductName:   "Latchkey",
			ReturnURLs:    returnURLs,
			Now:           s.now,
		},
	}
	public.Handle(webui.MountPath, ui)
	public.Handle("GET /{$}", http.RedirectHandler(webui.MountPath, http.StatusFound))
	return nil
}

func recoveryConfig(cfg *config.Config, c *components, s *Server) recovery.Config {
	f, m := cfg.SelfService.Flows.Recovery, cfg.SelfService.Methods
	return recovery.Config{
		Enabled:                 f.Enabled,
		Use:                     recovery.Method(f.Use),
		CodeEnabled:             m.Code.Enabled,
		LinkEnabled:             m.Link.Enabled,
		FlowLifespan:            f.Lifespan,
		CodeLifespan:            m.Code.Config.Lifespan,
		LinkLifespan:            m.Link.Config.Lifespan,
		MaxSubmissions:          m.Code.Config.MaxSubmissions,
		NotifyUnknownRecipients: f.NotifyUnknownRecipients,
		RevokeOtherSessions:     f.RevokesOtherSessions(),
		ContinueWithTransitions: cfg.FeatureFlags.UseContinueWithTransitions,
		RequireConfirmation:     m.Link.Config.RequireConfirmation,
		RateLimit: recovery.RateLimits{
			PerAddress: recovery.RateLimit{Max: f.RateLimit.PerAddress.Max, Window: f.RateLimit.PerAddress.Window},
			PerIP:      recovery.RateLimit{Max: f.RateLimit.PerIP.Max, Window: f.RateLimit.PerIP.Window},
		},
		PublicBaseURL:           cfg.Serve.Public.BaseURL,
		LinkBaseURL:             cfg.LinkBaseURL(),
		RecoveryUIURL:           cfg.UIURL("recovery"),
		SettingsUIURL:           cfg.UIURL("settings"),
		ErrorUIURL:              cfg.UIURL("error"),
		DefaultBrowserReturnURL: cfg.DefaultReturnURL(),
		AfterDefaultReturnURL:   resolve(cfg, f.After.DefaultBrowserReturnURL),
		ReturnTo:                c.returnTo,
		Now:                     s.now,
	}
}

func settingsConfig(cfg *config.Config, c *components, s *Server) settings.Config {
	f := cfg.SelfService.Flows.Settings
	return settings.Config{
		FlowLifespan:            f.Lifespan,
		PrivilegedSessionMaxAge: f.PrivilegedSessionMaxAge,
		RequiredAAL:             f.RequiredAAL,
		RevokeOtherSessions:     f.PasswordChangeRevokesOtherSessions(),
		PasswordEnabled:         cfg.SelfService.Methods.Password.Enabled,
		ProfileEnabled:          cfg.SelfService.Methods.Profile.Enabled,
		AfterPasswordReturnURL:  resolve(cfg, f.After.Password.DefaultBrowserReturnURL),
		AfterProfileReturnURL:   resolve(cfg, f.After.Profile.DefaultBrowserReturnURL),
		AfterDefaultReturnURL:   resolve(cfg, f.After.DefaultBrowserReturnURL),
		PublicBaseURL:           cfg.Serve.Public.BaseURL,
		SettingsUIURL:           cfg.UIURL("settings"),
		LoginUIURL:              cfg.UIURL("login"),
		ErrorUIURL:              cfg.UIURL("error"),
		ReturnTo:                c.returnTo,
		Now:                     s.now,
	}
}

// resolve makes a configured URL absolute against the public base URL
// ("" stays "").
func resolve(cfg *config.Config, raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.IsAbs() {
		return raw
	}
	return cfg.PublicBaseURL().ResolveReference(u).String()
}

func mustParseURL(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	return u
}
