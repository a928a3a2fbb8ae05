package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
)

// TestWebHookEgressPolicy: with clients.http.disallow_private_ip_ranges
// a web_hook on 127.0.0.1 fails like an unreachable one (502, the flow
// writes nothing) without the receiver ever hearing of it, unless its
// URL matches clients.http.private_ip_exception_urls.
func TestWebHookEgressPolicy(t *testing.T) {
	target := newHookTarget(t)
	opts := servertest.EntryOptions(
		"CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES=true",
		`CLIENTS_HTTP_PRIVATE_IP_EXCEPTION_URLS=["http://127.0.0.1:*/allowed/*"]`,
		hooksEnv("SELFSERVICE_FLOWS_REGISTRATION_AFTER_PASSWORD_HOOKS",
			map[string]any{"hook": "session"},
			webHook(map[string]any{"url": target.URL + "/allowed/signup", "method": "POST", "body": example("signup.jsonnet")})),
		hooksEnv("SELFSERVICE_FLOWS_SETTINGS_AFTER_PROFILE_HOOKS",
			webHook(map[string]any{"url": target.URL + "/blocked", "method": "POST", "body": example("settings.jsonnet")})),
	)
	opts.WebHooks = hookLimits
	srv := servertest.Start(t, opts)
	ctx := context.Background()
	sdk := srv.SDK(false)

	t.Run("ExceptionURLIsCalled", func(t *testing.T) {
		const email = "ina@egress.example"
		f, _, err := sdk.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
		if err != nil {
			t.Fatal(err)
		}
		b := ory.NewUpdateRegistrationFlowWithPasswordMethod("password", pw, map[string]any{"email": email, "name": "Ina"})
		if _, _, err := sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.Id).
			UpdateRegistrationFlowBody(ory.UpdateRegistrationFlowWithPasswordMethodAsUpdateRegistrationFlowBody(b)).Execute(); err != nil {
			t.Fatalf("register: %v %s", err, servertest.ErrorText(err))
		}
		if calls := target.to("/allowed/signup", email); len(calls) != 1 {
			t.Errorf("/allowed/signup calls %v", calls)
		}
	})

	t.Run("PrivateAddressIsRefused", func(t *testing.T) {
		const email = "jon@egress.example"
		id := srv.MustCreateIdentity(t, email, pw).Id
		token := srv.MustNativeLogin(t, email, pw)
		f, _, err := sdk.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(token).Execute()
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateSettingsFlowBody(
			ory.UpdateSettingsFlowWithProfileMethodAsUpdateSettingsFlowBody(
				ory.NewUpdateSettingsFlowWithProfileMethod("profile", map[string]any{"email": email, "name": "Jon"}))).Execute()
		upstreamError(t, err, http.StatusBadGateway, target)
		if text := servertest.ErrorText(err); strings.Contains(text, "127.0.0.1") {
			t.Errorf("the answer names the address: %s", text)
		}
		if calls := target.to("/blocked", ""); len(calls) != 0 {
			t.Errorf("the receiver was called: %v", calls)
		}
		if name := srv.MustGetIdentity(t, id).Traits.(map[string]any)["name"]; name != nil {
			t.Errorf("name written: %v", name)
		}
	})
}

// TestRemoteBodyTemplateObeysTheEgressPolicy: an http(s) body template is
// fetched at start-up under the same policy as the calls.
func TestRemoteBodyTemplateObeysTheEgressPolicy(t *testing.T) {
	target := newHookTarget(t)
	target.on(t, "/templates/signup.jsonnet", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`function(ctx) { id: ctx.identity.id }`))
	})
	start := func(t *testing.T, env ...string) error {
		t.Helper()
		cfg, _, err := config.Load(config.LoadOptions{Dev: true, DataDir: t.TempDir(), Env: append([]string{
			"DSN=" + sqltest.DSN(t, sqlstore.SQLite),
			`SECRETS_DEFAULT=["test-secret-0123456789abcdef"]`,
			"CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES=true",
			hooksEnv("SELFSERVICE_FLOWS_LOGIN_AFTER_HOOKS",
				webHook(map[string]any{"url": "https://hooks.example/login", "method": "POST", "body": target.URL + "/templates/signup.jsonnet"})),
		}, env...)})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(context.Background(), cfg, server.Options{Migrate: true, Version: "test", Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			srv.Close()
		}
		return err
	}

	err := start(t)
	if err == nil || !strings.Contains(err.Error(), "not public") {
		t.Fatalf("start-up error %v", err)
	}
	if calls := target.to("/templates/signup.jsonnet", ""); len(calls) != 0 {
		t.Fatalf("the template was fetched: %v", calls)
	}
	if err := start(t, `CLIENTS_HTTP_PRIVATE_IP_EXCEPTION_URLS=["http://127.0.0.1:*/templates/*.jsonnet"]`); err != nil {
		t.Fatalf("with an exception: %v", err)
	}
	if calls := target.to("/templates/signup.jsonnet", ""); len(calls) != 1 {
		t.Fatalf("template fetched %d times", len(calls))
	}
}
