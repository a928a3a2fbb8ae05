package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/login"
	"github.com/latchkey/latchkey/internal/lookup"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/recovery"
	"github.com/latchkey/latchkey/internal/registration"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/settings"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/totp"
	"github.com/latchkey/latchkey/internal/webui"
)

// wireFlows builds the self-service flows (login, registration, recovery,
// settings) and the built-in UI.
func (s *Server) wireFlows(c *components, public, admin *http.ServeMux) error {
	cfg := s.cfg
	respond := &flow.Responder{
		CSRF:             c.csrf,
		Errors:           c.errors,
		SetSessionCookie: func(w http.ResponseWriter, g *flow.SessionGrant) { c.sessions.WriteCookie(w, g.Token, g.ExpiresAt) },
	}
	sessionOf := func(ctx context.Context, r *http.Request) (*session.Session, error) {
		sess, err := c.sessions.FromRequest(ctx, r)
		if errors.Is(err, session.ErrNoActiveSession) {
			return nil, nil
		}
		return sess, err
	}
	site := flow.Site{PublicBaseURL: cfg.Serve.Public.BaseURL, DefaultBrowserReturnURL: cfg.DefaultReturnURL(), ReturnTo: c.returnTo, Now: s.now}
	common := func(kind string, svc flow.Service[*session.Session]) *flow.Handler[*session.Session] {
		return &flow.Handler[*session.Session]{Kind: kind, Service: svc, Session: sessionOf, Respond: respond}
	}

	socials, err := s.wireSocial(c, public, respond)
	if err != nil {
		return err
	}
	backupCodes := cfg.SelfService.Methods.Lookup.Enabled
	spender := &lookup.Spender{Sealer: c.cipher, Identities: c.identities}
	c.settings = &settings.Service{
		Config:     settingsConfig(cfg, site),
		Flows:      c.flows,
		Identities: c.identities,
		Schemas:    c.schemas,
		Sessions:   c.sessions,
		Passwords:  c.hasher,
		Policy:     c.policy,
		Tx:         s.db,
		Audit:      c.audit,
		Hooks:      c.hooks.settings,
		Methods: []settings.Method{
			&settings.TOTP{Switch: flow.Switch{On: cfg.SelfService.Methods.TOTP.Enabled}, Issuer: cfg.TOTPIssuer(), Sealer: c.cipher, Credentials: c.identities, Now: s.now},
			&settings.Lookup{Switch: flow.Switch{On: backupCodes}, Sealer: c.cipher, Identities: c.identities},
		},
	}
	if socials != nil {
		c.settings.Methods = append(c.settings.Methods, &settings.OIDC{Switch: flow.Switch{On: true}, Trips: socials, Links: c.identities})
		socials.Completers[settings.Kind] = c.settings
	}
	(&settings.Handler{Service: c.settings, Common: common("settings", c.settings)}).RegisterPublic(public)

	// One counter store for every limit, so all replicas count together.
	limits := &ratelimit.Counter{Store: sqlstore.NewRateLimitStore(s.db), Hasher: c.codes, Now: s.now}
	recoveries := &recovery.Service{
		Config:     recoveryConfig(cfg, site),
		Tx:         s.db,
		Flows:      c.flows,
		Store:      sqlstore.NewRecoveryStore(s.db),
		Identities: c.identities,
		Sessions:   c.sessions,
		Settings:   c.settings,
		// Backup codes only check codes when the recovery config enables them.
		BackupCodes: &recovery.BackupCodes{Spender: spender},
		Mail:        c.queue,
		Limits:      limits,
		Hasher:      c.codes,
		SchemaURL:   func(id string) string { return identity.SchemaURL(cfg.Serve.Public.BaseURL, id) },
		Audit:       c.audit,
		Log:         s.log,
		Hooks:       c.hooks.recovery,
	}
	// Email submissions are finished by the courier (recovery/request.go).
	c.dispatcher.SetPreparer(courier.TemplateRecoveryRequest, recoveries.PrepareRequest)
	(&recovery.Handler{Service: recoveries, Common: common("recovery", recoveries)}).Register(public, admin)

	verifications := s.wireVerification(c, public, site, limits, common)
	c.settings.Verification = verifications

	pw := cfg.SelfService.Methods.Password.Enabled
	loginLimits := cfg.SelfService.Flows.Login.RateLimit
	throttle := &login.Throttle{Counter: limits, Tx: s.db, PerIdentifier: limit(loginLimits.PerIdentifier), PerIP: limit(loginLimits.PerIP)}
	logins := &login.Service{
		Config: login.Config{
			Site: site, Lifespan: cfg.SelfService.Flows.Login.Lifespan, Style: cfg.SelfService.Flows.Login.Style,
			UIURL: cfg.UIURLs().Login, AfterReturnURL: cfg.ReturnURLs().LoginPassword,
			WhoamiRequiredAAL:          cfg.Session.Whoami.RequiredAAL,
			AfterHooks:                 loginAfterHooks(cfg.SelfService.Flows.Login.After),
			LegacyRequireVerifiedError: cfg.FeatureFlags.LegacyRequireVerifiedLoginError,
		},
		Flows: c.flows, Sessions: c.sessions, Tx: s.db, Audit: c.audit, Hooks: c.hooks.login,
		Verification: verifications,
		Methods: []login.Method{
			&login.Password{Switch: flow.Switch{On: pw}, SchemaID: cfg.Identity.DefaultSchemaID, Identities: c.identities, Schemas: c.schemas, Passwords: c.hasher, Throttle: throttle},
			&login.TOTP{Switch: flow.Switch{On: cfg.SelfService.Methods.TOTP.Enabled}, Identities: c.identities, Throttle: throttle,
				Codes: &totp.Verifier{Sealer: c.cipher, Credentials: c.identities, Now: s.now}},
			&login.Lookup{Switch: flow.Switch{On: backupCodes}, Spender: spender, Throttle: throttle, Now: s.now},
		},
	}
	if socials != nil {
		logins.Social, logins.SocialLinks = socials, c.identities
		logins.Methods = append(logins.Methods, &login.OIDC{Switch: flow.Switch{On: true}, Trips: socials, Links: c.identities})
		socials.Completers[login.Kind] = logins
	}
	common("login", logins).Register(public)

	reg := cfg.SelfService.Flows.Registration
	registrations := &registration.Service{
		Config: registration.Config{
			Site: site, Enabled: reg.Enabled, Lifespan: reg.Lifespan, SchemaID: cfg.Identity.DefaultSchemaID,
			Style:                    reg.Style,
			SessionAfterRegistration: config.HasHook(reg.After.Password.Hooks, config.HookSession) || config.HasHook(reg.After.Hooks, config.HookSession),
			SessionAfterSocial:       config.HasHook(reg.After.OIDC.Hooks, config.HookSession) || config.HasHook(reg.After.Hooks, config.HookSession),
			UIURL:                    cfg.UIURLs().Registration, AfterReturnURL: cfg.ReturnURLs().RegistrationPassword,
		},
		Flows: c.flows, Identities: c.identities, Schemas: c.schemas, Sessions: c.sessions, Tx: s.db, Hooks: c.hooks.registration,
		Verification: verifications,
		Methods: []registration.Method{
			&registration.Password{Switch: flow.Switch{On: pw}, Identities: c.identities, Passwords: c.hasher, Policy: c.policy},
		},
	}
	if socials != nil {
		registrations.Social, registrations.SocialLinks, registrations.SignIn = socials, c.identities, logins
		registrations.Methods = append(registrations.Methods, &registration.OIDC{Switch: flow.Switch{On: true}, Trips: socials, Links: c.identities})
		socials.Completers[registration.Kind] = registrations
		logins.Registrar = registrations
	}
	common("registration", registrations).Register(public)

	// The built-in UI is a client of the public API, called in-process.
	returnURLs := append([]string{}, cfg.SelfService.AllowedReturnURLs...)
	// The lockdown POST sends a browser on to the lockdown page, which may
	// be an own page on another origin (selfservice.notifications.lockdown.ui_url).
	returnURLs = append(returnURLs, cfg.DefaultReturnURL(), cfg.LockdownUIURL())
	// A provider button's post is followed to the provider's sign-in page.
	returnURLs = append(returnURLs, socialSignInOrigins(cfg)...)
	ui := &webui.Handler{
		API:     public,
		Mailbox: webui.CourierMailbox(c.mailbox),
		Config: webui.Config{
			PublicBaseURL: cfg.Serve.Public.BaseURL,
			Mailbox:       cfg.DevMailbox.Enabled,
			ProductName:   cfg.UI.Brand.Name,
			LogoURL:       cfg.UI.Brand.LogoURL,
			PrimaryColor:  cfg.UI.Brand.PrimaryColor,
			ReturnURLs:    returnURLs,
			Now:           s.now,
			DefaultLocale: cfg.SelfService.DefaultLanguage(),
		},
	}
	public.Handle(webui.MountPath, ui)
	public.HandleFunc("GET /favicon.ico", webui.ServeFavicon)
	// Links' confirm pages are drawn in the UI's layout and language.
	respond.Confirm = ui
	public.Handle("GET /{$}", http.RedirectHandler(webui.MountPath, http.StatusFound))
	return nil
}

func recoveryConfig(cfg *config.Config, site flow.Site) recovery.Config {
	f, m := cfg.SelfService.Flows.Recovery, cfg.SelfService.Methods
	return recovery.Config{
		Site:                    site,
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
		BackupCodes:             m.Lookup.Enabled && m.Lookup.Config.UseForRecovery,
		RateLimit: recovery.RateLimits{
			PerAddress: limit(f.RateLimit.PerAddress),
			PerIP:      limit(f.RateLimit.PerIP),
		},
		LinkBaseURL:           cfg.LinkBaseURL(),
		RecoveryUIURL:         cfg.UIURLs().Recovery,
		SettingsUIURL:         cfg.UIURLs().Settings,
		AfterDefaultReturnURL: resolve(cfg, f.After.DefaultBrowserReturnURL),
	}
}

func settingsConfig(cfg *config.Config, site flow.Site) settings.Config {
	f := cfg.SelfService.Flows.Settings
	return settings.Config{
		Site:                    site,
		FlowLifespan:            f.Lifespan,
		PrivilegedSessionMaxAge: f.PrivilegedSessionMaxAge,
		RequiredAAL:             f.RequiredAAL,
		RevokeOtherSessions:     f.PasswordChangeRevokesOtherSessions(),
		PasswordEnabled:         cfg.SelfService.Methods.Password.Enabled,
		ProfileEnabled:          cfg.SelfService.Methods.Profile.Enabled,
		AfterPasswordReturnURL:  resolve(cfg, f.After.Password.DefaultBrowserReturnURL),
		AfterProfileReturnURL:   resolve(cfg, f.After.Profile.DefaultBrowserReturnURL),
		AfterTOTPReturnURL:      resolve(cfg, f.After.TOTP.DefaultBrowserReturnURL),
		AfterLookupReturnURL:    resolve(cfg, f.After.LookupSecret.DefaultBrowserReturnURL),
		AfterOIDCReturnURL:      resolve(cfg, f.After.OIDC.DefaultBrowserReturnURL),
		AfterDefaultReturnURL:   resolve(cfg, f.After.DefaultBrowserReturnURL),
		SettingsUIURL:           cfg.UIURLs().Settings,
		LoginUIURL:              cfg.UIURLs().Login,
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

// limit is a configured rate limit as internal/ratelimit counts it.
func limit(l config.RateLimit) ratelimit.Limit {
	return ratelimit.Limit{Max: l.Max, Window: l.Window}
}
