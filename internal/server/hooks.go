package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/docurl"
	"github.com/latchkey/latchkey/internal/hook"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/login"
	"github.com/latchkey/latchkey/internal/session"
)

// hookRunners are the web_hook runners of the flows, built from
// selfservice.flows.<flow>.{before,after}[.<method>].hooks.
type hookRunners struct {
	registration, login, settings, recovery, verification *hook.Runner
}

// wireHooks builds the web_hook caller and each flow's runner, and runs
// the caller's background queue as a worker (so a shutdown finishes the
// response.ignore calls in flight). A runner is nil when its flow has no
// web_hook.
func (s *Server) wireHooks(c *components, limits hook.Limits) (*hookRunners, error) {
	cfg := s.cfg
	m, err := hook.NewMetrics(s.metrics)
	if err != nil {
		return nil, err
	}
	egress := hook.NewEgress(cfg.Clients.HTTP.DisallowPrivateIPRanges, cfg.Clients.HTTP.PrivateIPExceptionURLs)
	caller := hook.NewCaller(hook.CallerConfig{
		Limits:          limits,
		Egress:          egress,
		HeaderAllowlist: cfg.Clients.WebHook.HeaderAllowlist,
		Metrics:         m,
		Renderer: hook.Renderer{
			Identity: func(i *identity.Identity) any {
				return i.JSON(identity.PublicView, identity.SchemaURL(cfg.Serve.Public.BaseURL, i.SchemaID))
			},
			Session: func(sess *session.Session) any { return c.sessions.JSON(sess) },
		},
	})
	f := cfg.SelfService.Flows
	const fl = "selfservice.flows."
	b := &runnerBuilder{caller: caller, fetch: egress.Client()}
	r := &hookRunners{
		registration: b.runner(hook.Registration, fl+"registration", f.Registration.Before.Hooks, f.Registration.After.Hooks, f.Registration.After.ByMethod()),
		login:        b.runner(hook.Login, fl+"login", f.Login.Before.Hooks, f.Login.After.Hooks, f.Login.After.ByMethod()),
		settings:     b.runner(hook.Settings, fl+"settings", f.Settings.Before.Hooks, f.Settings.After.Hooks, f.Settings.After.ByMethod()),
		recovery:     b.runner(hook.Recovery, fl+"recovery", f.Recovery.Before.Hooks, f.Recovery.After.Hooks, nil),
		verification: b.runner(hook.Verification, fl+"verification", f.Verification.Before.Hooks, f.Verification.After.Hooks, nil),
	}
	if err := errors.Join(b.errs...); err != nil {
		return nil, err
	}
	if b.any {
		s.workers = append(s.workers, caller.Run)
	}
	return r, nil
}

// runnerBuilder turns configured hooks lists into runners.
type runnerBuilder struct {
	caller *hook.Caller
	// fetch downloads http(s) body templates, under clients.http's policy
	// like the calls themselves.
	fetch *http.Client
	errs  []error
	// any: some flow has a web_hook.
	any bool
}

// runner builds a flow's runner from its before.hooks, after.hooks and
// after.<method>.hooks lists (keyed by method); nil without web_hooks.
func (b *runnerBuilder) runner(kind, key string, before, after []config.Hook, byMethod map[string][]config.Hook) *hook.Runner {
	r := &hook.Runner{Flow: kind, Caller: b.caller, After: map[string][]*hook.WebHook{}}
	r.Before = b.webHooks(key+".before.hooks", before)
	r.After[""] = b.webHooks(key+".after.hooks", after)
	n := len(r.Before) + len(r.After[""])
	for method, hooks := range byMethod {
		if len(hooks) == 0 {
			continue
		}
		// A method's own list replaces after.hooks even when it holds no
		// web_hook (its session hook, say), as in Kratos.
		r.After[method] = b.webHooks(key+".after."+method+".hooks", hooks)
		n += len(r.After[method])
	}
	if n == 0 {
		return nil
	}
	b.any = true
	return r
}

// webHooks are the web_hooks of a hooks list, ready to call.
func (b *runnerBuilder) webHooks(key string, hooks []config.Hook) []*hook.WebHook {
	var out []*hook.WebHook
	for i, h := range hooks {
		if h.Hook != config.HookWebHook || h.WebHook == nil {
			continue
		}
		w, err := newWebHook(h.WebHook, b.fetch)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("config: %s[%d].config.body: %w", key, i, err))
			continue
		}
		out = append(out, w)
	}
	return out
}

// newWebHook maps a checked config.WebHook onto the hook package's,
// reading (or, for http(s), fetching once now with fetch) its body
// template.
func newWebHook(c *config.WebHook, fetch *http.Client) (*hook.WebHook, error) {
	name := c.ID
	if name == "" {
		if u, err := url.Parse(c.URL); err == nil {
			name = u.Host
		}
	}
	tpl, err := c.ReadBody()
	if errors.Is(err, docurl.ErrRemote) {
		if tpl, err = fetchTemplate(fetch, c.Body); err == nil {
			err = config.CheckJsonnet(c.BodyName(), string(tpl))
		}
	}
	if err != nil {
		return nil, err
	}
	a := c.Auth
	return &hook.WebHook{
		Name: name, URL: c.URL, Method: c.Method, Headers: c.Headers,
		Template: string(tpl), TemplateURI: c.BodyName(),
		Auth:  hook.Auth{Type: a.Type, Name: a.Config.Name, Value: a.Config.Value, In: a.Config.In, User: a.Config.User, Password: a.Config.Password},
		Parse: c.Response.Parse, CanInterrupt: c.CanInterrupt, Ignore: c.Response.Ignore,
	}, nil
}

// fetchTemplate downloads an http(s) body template at start-up. Kratos
// fetches it at the first call and caches it for an hour; Latchkey reads
// it once, so a broken template stops start-up instead of every call.
func fetchTemplate(client *http.Client, uri string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch body template: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot fetch body template: status %d", res.StatusCode)
	}
	return io.ReadAll(io.LimitReader(res.Body, 1<<20))
}

// loginAfterHooks are the login after-hooks other than web_hook, by
// method: after.<method>.hooks when set, else after.hooks (key "").
func loginAfterHooks(a config.MethodsAfter) map[string]login.AfterHooks {
	switches := func(hooks []config.Hook) login.AfterHooks {
		return login.AfterHooks{
			RevokeOtherSessions:    config.HasHook(hooks, config.HookRevokeActiveSessions),
			RequireVerifiedAddress: config.HasHook(hooks, config.HookRequireVerifiedAddress),
		}
	}
	out := map[string]login.AfterHooks{"": switches(a.Hooks)}
	for method, hooks := range a.ByMethod() {
		if len(hooks) > 0 {
			out[method] = switches(hooks)
		}
	}
	return out
}
