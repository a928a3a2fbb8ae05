package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/url"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/courier"
	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/settings"
	"github.com/latchkey/latchkey/internal/sqlstore"
)

// components are the services the handlers share.
type components struct {
	identities *identity.Service
	schemas    *identity.Schemas
	hasher     *password.Hasher
	policy     *password.Policy
	sessions   *session.Manager
	csrf       *flow.CSRF
	flows      flow.Store
	errors     *flow.Errors
	returnTo   flow.ReturnToPolicy
	queue      *courier.Queue
	dispatcher *courier.Dispatcher
	courier    courier.Store
	mailbox    courier.MailboxLister // what the dev mailbox page reads
	codes      secret.Hasher
	settings   *settings.Service
	// cipher seals secrets kept at rest (mail, second-factor credentials)
	// with secrets.cipher.
	cipher *secret.Cipher
	// audit writes the security events of every service (docs/audit.md).
	audit *audit.Recorder
	// hooks are the flows' web_hook runners (hooks.go).
	hooks *hookRunners
}

// wire builds every component and the two listeners' handlers.
func (s *Server) wire(opts Options) error {
	c, err := s.buildComponents(opts)
	if err != nil {
		return err
	}
	cfg := s.cfg
	public := http.NewServeMux()
	admin := http.NewServeMux()
	s.registerOperational(public, false)
	s.registerOperational(admin, true)

	(&identity.Handler{Service: c.identities, PublicBaseURL: cfg.Serve.Public.BaseURL, AdminBaseURL: cfg.Serve.Admin.BaseURL, Sealer: c.cipher}).Register(admin)
	schemas := &identity.SchemaHandler{Schemas: c.schemas}
	schemas.Register(public)
	schemas.Register(admin)

	sessions := &session.Handler{Manager: c.sessions, Errors: c.errors, ReturnTo: c.returnTo, CSRF: c.csrf}
	sessions.RegisterPublic(public)
	sessions.RegisterAdmin(admin)

	courier.NewHandler(c.courier).Register(admin)
	(&audit.Handler{Events: c.audit.Store}).Register(admin)
	public.HandleFunc("GET /self-service/errors", c.errors.ServeError)
	admin.HandleFunc("GET /self-service/errors", c.errors.ServeError)

	s.wireNotifications(c, public)
	if c.hooks, err = s.wireHooks(c, opts.WebHooks); err != nil {
		return err
	}
	if err := s.wireFlows(c, public, admin); err != nil {
		return err
	}

	if cfg.Profiling.Enabled {
		admin.HandleFunc("/debug/pprof/", pprof.Index)
		admin.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		admin.HandleFunc("/debug/pprof/profile", pprof.Profile)
		admin.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		admin.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}

	// Cross-listener redirects, as Kratos answers them.
	public.Handle("/admin/", redirectTo(cfg.Serve.Admin.BaseURL))
	admin.Handle("/self-service/", redirectTo(cfg.Serve.Public.BaseURL))
	admin.Handle("/sessions/whoami", redirectTo(cfg.Serve.Public.BaseURL))
	public.HandleFunc("/", notFound)
	admin.HandleFunc("/", notFound)

	publicIPs, err := clientIPs(cfg.Serve.Public)
	if err != nil {
		return err
	}
	adminIPs, err := clientIPs(cfg.Serve.Admin)
	if err != nil {
		return err
	}
	// Browsers signed in to Kratos get their session cookie in Latchkey's
	// format on their first request (docs/migrating-from-kratos.md).
	s.public = publicIPs.Wrap(withBasics(s.log, true, ensureCSRFCookie(c.csrf, c.sessions.AdoptKratosCookies(public))))
	s.admin = adminIPs.ForAdmin().Wrap(withBasics(s.log, false, adminAliases(admin)))

	if !opts.NoCourier {
		s.workers = append(s.workers, func(ctx context.Context) { c.dispatcher.Run(ctx) })
	}
	if cfg.Database.Cleanup.Enabled {
		m, err := newCleanupMetrics(s.metrics)
		if err != nil {
			return err
		}
		s.workers = append(s.workers, func(ctx context.Context) { s.runCleanup(ctx, m) })
	}
	return nil
}

// buildComponents turns the typed configuration into services.
func (s *Server) buildComponents(opts Options) (*components, error) {
	cfg, db := s.cfg, s.db
	c := &components{}

	var err error
	if c.hasher, err = newHasher(cfg); err != nil {
		return nil, err
	}
	pw := cfg.SelfService.Methods.Password.Config
	if c.policy, err = password.NewPolicy(password.PolicyConfig{
		MinLength:                 pw.MinPasswordLength,
		MaxLength:                 c.hasher.Config().MaxPasswordLength(),
		IdentifierSimilarityCheck: pw.IdentifierSimilarityCheckEnabled,
		BreachCheck:               pw.HaveIBeenPwnedEnabled,
		MaxBreaches:               pw.MaxBreaches,
	}); err != nil {
		return nil, fmt.Errorf("selfservice.methods.password.config: %w", err)
	}

	if c.schemas, err = newSchemas(cfg); err != nil {
		return nil, err
	}
	if err := registerDBMetrics(s.metrics, db); err != nil {
		return nil, err
	}
	if err := registerProcessMetrics(s.metrics); err != nil {
		return nil, err
	}
	c.audit = &audit.Recorder{Store: sqlstore.NewAuditStore(db), Now: s.now}
	if c.audit.Counter, err = audit.NewMetrics(s.metrics); err != nil {
		return nil, err
	}
	c.identities = identity.NewService(sqlstore.NewIdentityStore(db), c.schemas, c.hasher, s.now)
	c.identities.Audit = c.audit

	tokens := tokenHasher(cfg)
	cookies := secret.Hasher{Secrets: cfg.Secrets.CookieKeys().VerificationSecrets()}
	c.codes = tokens
	ck := cfg.SessionCookie()
	pub := cfg.PublicBaseURL()
	c.sessions = &session.Manager{
		Store:      sqlstore.NewSessionStore(db),
		Identities: c.identities,
		Config: session.Config{
			Lifespan:               cfg.Session.Lifespan,
			EarliestPossibleExtend: cfg.Session.EarliestPossibleExtend,
			Cookie:                 session.CookieConfig{Name: ck.Name, Domain: ck.Domain, Path: ck.Path, SameSite: ck.SameSite, Persistent: ck.Persistent, Secure: ck.Secure},
			WhoamiRequiredAAL:      cfg.Session.Whoami.RequiredAAL,
			PublicBaseURL:          pub,
			LogoutReturnURL:        cfg.ReturnURLs().Logout,
		},
		Tokens:  tokens,
		Cookies: cookies,
		Now:     s.now,
		Tx:      db,
		Audit:   c.audit,
	}

	c.csrf = flow.NewCSRF(cfg.Serve.Public.BaseURL, cfg.Cookies.Path, cfg.Cookies.Domain, cfg.SameSite(), cfg.CookieSecure())
	flowStore := sqlstore.NewFlowStore(db)
	c.flows = flowStore
	c.errors = &flow.Errors{Store: flowStore, UIURL: cfg.UIURLs().Error, Now: s.now}
	c.returnTo = flow.ReturnToPolicy{Allowed: cfg.AllowedReturnURLs(), PublicBase: pub, DefaultReturn: mustParseURL(cfg.DefaultReturnURL()),
		OwnPages: []*url.URL{mustParseURL(cfg.UIURLs().Settings)}}

	// Courier: templates are parsed now, so a broken override stops start-up.
	templates, err := newTemplates(cfg)
	if err != nil {
		return nil, err
	}
	// Mail content and second-factor secrets are sealed at rest with
	// secrets.cipher (docs/courier.md, docs/second-factors.md).
	if c.cipher, err = newCipher(cfg); err != nil {
		return nil, err
	}
	courierStore := sqlstore.NewCourierStore(db, c.cipher)
	c.courier, c.mailbox = courierStore, courierStore
	smtp := cfg.Courier.SMTP
	sender, err := courier.NewSender(courier.SMTPConfig{
		ConnectionURI: smtp.ConnectionURI, FromAddress: smtp.FromAddress, FromName: smtp.FromName,
		Headers: smtp.Headers, LocalName: smtp.LocalName, ClientCertPath: smtp.ClientCertPath, ClientKeyPath: smtp.ClientKeyPath,
		MaxIdleConns: cfg.Courier.Worker.Concurrency, // a connection kept for each slot
	}, cfg.DevMailbox.Enabled, s.log)
	if err != nil {
		return nil, fmt.Errorf("courier.smtp: %w", err)
	}
	if c, ok := sender.(io.Closer); ok {
		// The SMTP sender keeps connections open between mails.
		s.closers = append(s.closers, c.Close)
	}
	if dev, ok := sender.(*courier.DevMailbox); ok {
		// Sent messages are wiped in the database; the dev mailbox keeps
		// the full mails it delivered.
		c.mailbox = dev.Lister(courierStore)
	}
	maxAttempts := 0 // until the message expires
	if r := cfg.Courier.MessageRetries; r != nil {
		maxAttempts = *r + 1
	}
	metrics, err := courier.NewMetrics(s.metrics, courierStore, s.log)
	if err != nil {
		return nil, err
	}
	c.dispatcher, err = courier.NewDispatcher(courier.DispatcherConfig{
		Store: courierStore, Templates: templates, Sender: sender, Logger: s.log, Metrics: metrics,
		MaxAttempts: maxAttempts, PullCount: cfg.Courier.Worker.PullCount, PullWait: cfg.Courier.Worker.PullWait,
		Concurrency: cfg.Courier.Worker.Concurrency,
		Now:         s.now,
	})
	if err != nil {
		return nil, err
	}
	c.queue = courier.NewQueue(courierStore, templates, c.dispatcher.Wake)
	c.queue.SetClock(s.now)
	return c, nil
}

// newTemplates parses the built-in mail templates and every override.
func newTemplates(cfg *config.Config) (*courier.Templates, error) {
	t, err := courier.NewTemplates(courier.TemplatesConfig{
		OverridePath: cfg.Courier.TemplateOverridePath,
		Overrides:    templateOverrides(cfg.Courier.Templates),
		// A mail whose recipient and request name no language.
		DefaultLanguage: cfg.SelfService.DefaultLanguage(),
	})
	if err != nil {
		return nil, fmt.Errorf("courier templates: %w", err)
	}
	return t, nil
}

// templateOverrides hands each courier.templates entry to the courier
// under its template type. The login_code and registration_code entries
// are left out: Latchkey sends no such mail.
func templateOverrides(t config.CourierTemplates) map[courier.TemplateType]courier.TemplateURIs {
	uris := func(e config.EmailTemplate) courier.TemplateURIs {
		return courier.TemplateURIs{Subject: e.Subject, BodyHTML: e.BodyHTML, BodyPlaintext: e.BodyPlaintext}
	}
	return map[courier.TemplateType]courier.TemplateURIs{
		courier.TemplateRecoveryValid:           uris(t.Recovery.Valid),
		courier.TemplateRecoveryInvalid:         uris(t.Recovery.Invalid),
		courier.TemplateRecoveryCodeValid:       uris(t.RecoveryCode.Valid),
		courier.TemplateRecoveryCodeInvalid:     uris(t.RecoveryCode.Invalid),
		courier.TemplateVerificationValid:       uris(t.Verification.Valid),
		courier.TemplateVerificationInvalid:     uris(t.Verification.Invalid),
		courier.TemplateVerificationCodeValid:   uris(t.VerificationCode.Valid),
		courier.TemplateVerificationCodeInvalid: uris(t.VerificationCode.Invalid),

		courier.TemplateSecurityPasswordChanged:     uris(t.SecurityPasswordChanged),
		courier.TemplateSecurityAccountRecovered:    uris(t.SecurityAccountRecovered),
		courier.TemplateSecurityAdminRecovery:       uris(t.SecurityAdminRecoveryIssued),
		courier.TemplateSecuritySecondFactorAdded:   uris(t.SecuritySecondFactorAdded),
		courier.TemplateSecuritySecondFactorRemoved: uris(t.SecuritySecondFactorRemoved),
		courier.TemplateSecurityAddressChanged:      uris(t.SecurityAddressChanged),
		courier.TemplateSecuritySocialLinked:        uris(t.SecuritySocialLinked),
		courier.TemplateSecurityLockdownConfirmed:   uris(t.SecurityLockdownConfirmed),
	}
}

// RunCourier runs only the courier dispatcher (latchkey courier watch).
func RunCourier(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	srv, err := New(ctx, cfg, Options{Logger: log, Migrate: cfg.Dev})
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.StartWorkers(ctx)()
	return nil
}
