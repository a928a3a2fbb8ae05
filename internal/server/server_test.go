package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/sqlstore/sqltest"
	"github.com/latchkey/latchkey/internal/testnet"
)

// kratosErrorBody is the Kratos error envelope.
type kratosErrorBody struct {
	Error struct {
		ID      string         `json:"id"`
		Code    int            `json:"code"`
		Status  string         `json:"status"`
		Reason  string         `json:"reason"`
		Details map[string]any `json:"details"`
		Message string         `json:"message"`
	} `json:"error"`
}

// reply is a finished HTTP exchange.
type reply struct {
	status int
	header http.Header
	body   string
}

// send makes one request without following redirects.
func send(t *testing.T, srv *servertest.Server, method, url, contentType string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := srv.HTTPClient(false).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: res.StatusCode, header: res.Header, body: string(b)}
}

// wantKratosError checks status, JSON content type and the envelope.
func wantKratosError(t *testing.T, r reply, status int, reason string) kratosErrorBody {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e kratosErrorBody
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("not the Kratos error envelope: %v: %s", err, r.body)
	}
	if e.Error.Code != status || e.Error.Status != http.StatusText(status) || e.Error.Message == "" || !strings.Contains(e.Error.Reason, reason) {
		t.Errorf("error %+v, want code %d, its status text, a message and a reason containing %q", e.Error, status, reason)
	}
	return e
}

// TestServer covers what the server itself adds around the handlers:
// operational endpoints, the routing between the two listeners, the
// answers for unknown routes and bad input, and metrics.
func TestServer(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			srv := servertest.Start(t, servertest.Options{Dialect: d})
			pub, adm := srv.Public.URL, srv.Admin.URL

			t.Run("HealthAndVersionOnBothPorts", func(t *testing.T) {
				for _, base := range []string{pub, adm} {
					for path, want := range map[string]string{
						"/health/alive": `{"status":"ok"}`,
						"/health/ready": `{"status":"ok"}`,
						"/version":      `{"version":"test"}`,
					} {
						r := send(t, srv, "GET", base+path, "", nil)
						if r.status != http.StatusOK || strings.TrimSpace(r.body) != want {
							t.Errorf("GET %s%s: %d %s, want 200 %s", base, path, r.status, r.body, want)
						}
					}
				}
			})

			t.Run("SelfServiceRouteOnAdminRedirectsToPublic", func(t *testing.T) {
				for _, tc := range []struct{ method, path string }{
					{"GET", "/self-service/recovery/api?return_to=https%3A%2F%2Fapp.example"},
					{"POST", "/self-service/login?flow=00000000-0000-4000-8000-000000000000"},
					{"GET", "/sessions/whoami"},
				} {
					r := send(t, srv, tc.method, adm+tc.path, "", nil)
					if want := pub + tc.path; r.status != http.StatusTemporaryRedirect || r.header.Get("Location") != want {
						t.Errorf("%s admin %s: %d Location %q, want 307 to %s", tc.method, tc.path, r.status, r.header.Get("Location"), want)
					}
				}
			})

			t.Run("AdminRouteOnPublicRedirectsToAdmin", func(t *testing.T) {
				for _, tc := range []struct{ method, path string }{
					{"GET", "/admin/identities?page_size=1"},
					{"POST", "/admin/recovery/code"},
					{"DELETE", "/admin/identities/00000000-0000-4000-8000-000000000000/sessions"},
				} {
					r := send(t, srv, tc.method, pub+tc.path, "", nil)
					if want := adm + tc.path; r.status != http.StatusTemporaryRedirect || r.header.Get("Location") != want {
						t.Errorf("%s public %s: %d Location %q, want 307 to %s", tc.method, tc.path, r.status, r.header.Get("Location"), want)
					}
				}
			})

			t.Run("UnknownRouteIs404InKratosShape", func(t *testing.T) {
				const want = `{"error":{"code":404,"status":"Not Found","reason":"The requested route does not exist.","message":"The requested resource could not be found"}}`
				for _, url := range []string{pub + "/no/such/route", adm + "/no/such/route", adm + "/admin/no-such-thing", pub + "/identities"} {
					r := send(t, srv, "GET", url, "", nil)
					wantKratosError(t, r, http.StatusNotFound, "route does not exist")
					if strings.TrimSpace(r.body) != want {
						t.Errorf("GET %s body %s, want %s", url, r.body, want)
					}
				}
			})

			t.Run("AdminRoutesWorkWithoutPrefix", func(t *testing.T) {
				r := send(t, srv, "POST", adm+"/identities", "application/json", strings.NewReader(`{"schema_id":"default","traits":{"email":"no-prefix@example.test"}}`))
				if r.status != http.StatusCreated {
					t.Fatalf("POST /identities: %d %s", r.status, r.body)
				}
				var created struct{ ID string }
				if err := json.Unmarshal([]byte(r.body), &created); err != nil {
					t.Fatal(err)
				}
				for _, path := range []string{"/identities", "/identities/" + created.ID, "/identities/" + created.ID + "/sessions", "/sessions", "/courier/messages"} {
					withPrefix := send(t, srv, "GET", adm+"/admin"+path, "", nil)
					without := send(t, srv, "GET", adm+path, "", nil)
					if without.status != http.StatusOK || without.status != withPrefix.status {
						t.Errorf("GET %s: %d, with /admin: %d: %s", path, without.status, withPrefix.status, without.body)
					}
				}
				r = send(t, srv, "GET", adm+"/identities?credentials_identifier=no-prefix@example.test", "", nil)
				if !strings.Contains(r.body, created.ID) {
					t.Errorf("GET /identities?credentials_identifier lacks the identity: %s", r.body)
				}
				if r := send(t, srv, "DELETE", adm+"/identities/"+created.ID, "", nil); r.status != http.StatusNoContent {
					t.Errorf("DELETE /identities/{id}: %d %s", r.status, r.body)
				}
			})

			t.Run("BadAdminInputIsA4xxInKratosShape", func(t *testing.T) {
				existing := send(t, srv, "POST", adm+"/admin/identities", "application/json", strings.NewReader(`{"schema_id":"default","traits":{"email":"existing@example.test"}}`))
				if existing.status != http.StatusCreated {
					t.Fatalf("setup: %d %s", existing.status, existing.body)
				}
				var ident struct{ ID string }
				_ = json.Unmarshal([]byte(existing.body), &ident)
				big := `{"schema_id":"default","traits":{"email":"big@example.test"},"metadata_admin":"` + strings.Repeat("x", 1<<20) + `"}`
				tests := []struct {
					name, method, path, contentType string
					body                            func() io.Reader
					status                          int
					reason                          string
				}{
					{"MalformedJSON", "POST", "/admin/identities", "application/json", text(`{"schema_id":`), 400, "Unable to decode JSON payload"},
					{"MalformedJSONWithoutPrefix", "POST", "/identities", "application/json", text(`{"traits":[`), 400, "Unable to decode JSON payload"},
					{"NotAnObject", "POST", "/admin/identities", "application/json", text(`"just a string"`), 400, "Unable to decode JSON payload"},
					{"EmptyBody", "POST", "/admin/identities", "application/json", text(``), 400, "the request body is empty"},
					{"WrongContentType", "POST", "/admin/identities", "text/plain", text(`{"schema_id":"default","traits":{"email":"ct@example.test"}}`), 415, "Content-Type must be application/json"},
					{"FormContentType", "POST", "/identities", "application/x-www-form-urlencoded", text(`traits.email=f@example.test`), 415, "Content-Type must be application/json"},
					{"BodyOver1MiB", "POST", "/admin/identities", "application/json", text(big), 413, "exceeds the maximum size of 1 MiB"},
					{"BodyOver1MiBWithoutPrefix", "POST", "/identities", "application/json", text(big), 413, "exceeds the maximum size of 1 MiB"},
					{"ChunkedBodyOver1MiB", "POST", "/admin/identities", "application/json", chunked(big), 413, "exceeds the maximum size of 1 MiB"},
					{"PutBodyOver1MiB", "PUT", "/admin/identities/" + ident.ID, "application/json", text(big), 413, "exceeds the maximum size"},
					{"PatchMalformed", "PATCH", "/admin/identities/" + ident.ID, "application/json", text(`[{"op":`), 400, "Unable to decode JSON payload"},
					{"MalformedID", "GET", "/admin/identities/not-a-uuid", "", text(``), 400, "not a valid UUID"},
					{"UnknownID", "GET", "/admin/identities/00000000-0000-4000-8000-000000000000", "", text(``), 404, "does not exist"},
					{"DeleteUnknownID", "DELETE", "/identities/00000000-0000-4000-8000-000000000000", "", text(``), 404, "does not exist"},
					{"RecoveryCodeMalformed", "POST", "/admin/recovery/code", "application/json", text(`{"identity_id":`), 400, "Unable to decode JSON payload"},
					{"CourierBadStatus", "GET", "/admin/courier/messages?status=lost", "", text(``), 400, "Message status is not valid"},
					{"CourierBadID", "GET", "/courier/messages/not-a-uuid", "", text(``), 400, "not a valid UUID"},
				}
				for _, tc := range tests {
					t.Run(tc.name, func(t *testing.T) {
						before := identityCount(t, srv)
						r := send(t, srv, tc.method, adm+tc.path, tc.contentType, tc.body())
						wantKratosError(t, r, tc.status, tc.reason)
						if after := identityCount(t, srv); after != before {
							t.Errorf("identities: %d before, %d after", before, after)
						}
					})
				}
			})

			t.Run("PublicBodyOver1MiBIs413", func(t *testing.T) {
				r := send(t, srv, "GET", pub+"/self-service/login/api", "", nil)
				var f struct{ ID string }
				if err := json.Unmarshal([]byte(r.body), &f); err != nil || f.ID == "" {
					t.Fatalf("login flow: %d %s", r.status, r.body)
				}
				big := `{"method":"password","identifier":"x@example.test","password":"` + strings.Repeat("p", 1<<20) + `"}`
				wantKratosError(t, send(t, srv, "POST", pub+"/self-service/login?flow="+f.ID, "application/json", strings.NewReader(big)), 413, "exceeds the maximum size of 1 MiB")
			})

			t.Run("MetricsOnAdminShowTheProcess", func(t *testing.T) {
				r := send(t, srv, "GET", adm+"/metrics/prometheus", "", nil)
				for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "go_goroutines"} {
					m := regexp.MustCompile(`(?m)^` + name + ` ([0-9.e+]+)$`).FindStringSubmatch(r.body)
					if m == nil {
						t.Errorf("/metrics/prometheus lacks %s", name)
					} else if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 && name != "process_cpu_seconds_total" {
						t.Errorf("/metrics/prometheus: %s %v, want a positive value", name, v)
					}
				}
			})

			t.Run("MetricsOnAdminShowCourierCounters", func(t *testing.T) {
				before := courierMetrics(t, srv)
				for _, name := range []string{"latchkey_courier_messages_sent_total", "latchkey_courier_messages_failed_total", "latchkey_courier_messages_abandoned_total", "latchkey_courier_queue_depth"} {
					if _, ok := before[name]; !ok {
						t.Errorf("/metrics/prometheus lacks %s", name)
					}
				}
				if r := send(t, srv, "GET", pub+"/metrics/prometheus", "", nil); r.status != http.StatusNotFound {
					t.Errorf("public /metrics/prometheus: %d, want 404", r.status)
				}

				// A mail delivered over SMTP counts as sent.
				const email = "metrics@example.test"
				r := send(t, srv, "POST", adm+"/admin/identities", "application/json", strings.NewReader(`{"schema_id":"default","traits":{"email":"`+email+`"}}`))
				var ident struct{ ID string }
				if err := json.Unmarshal([]byte(r.body), &ident); err != nil || r.status != http.StatusCreated {
					t.Fatalf("create identity: %d %s", r.status, r.body)
				}
				r = send(t, srv, "POST", adm+"/admin/recovery/code", "application/json", strings.NewReader(`{"identity_id":"`+ident.ID+`","send":true}`))
				if r.status != http.StatusCreated {
					t.Fatalf("admin recovery code: %d %s", r.status, r.body)
				}
				srv.SMTP.WaitFor(t, email, 10*time.Second)
				deadline := time.Now().Add(5 * time.Second)
				for {
					after := courierMetrics(t, srv)
					if after["latchkey_courier_messages_sent_total"] == before["latchkey_courier_messages_sent_total"]+1 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("sent_total %v → %v, want +1", before["latchkey_courier_messages_sent_total"], after["latchkey_courier_messages_sent_total"])
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		})
	}
}

// TestIdentityLifecycleThroughTheServer drives the identity admin API of a
// whole server with the official Ory SDK: create, get, list by
// identifier, patch, delete.
func TestIdentityLifecycleThroughTheServer(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			srv := servertest.Start(t, servertest.Options{Dialect: d, NoSMTP: true})
			ctx := context.Background()
			api := srv.SDK(false).IdentityAPI
			const email = "lifecycle@example.test"

			created, res, err := api.CreateIdentity(ctx).CreateIdentityBody(ory.CreateIdentityBody{
				SchemaId: "default",
				Traits:   map[string]any{"email": email},
				Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
					Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString("Lifecycle-Passw0rd!")}}},
			}).Execute()
			mustStatus(t, res, err, http.StatusCreated)
			if want := srv.Config.Serve.Admin.BaseURL + "identities/" + created.Id; res.Header.Get("Location") != want {
				t.Errorf("Location %q, want %q", res.Header.Get("Location"), want)
			}

			got, res, err := api.GetIdentity(ctx, created.Id).IncludeCredential([]string{"password"}).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if got.Traits.(map[string]any)["email"] != email || len(got.RecoveryAddresses) != 1 || len(got.VerifiableAddresses) != 1 {
				t.Errorf("identity %+v", got)
			}

			list, res, err := api.ListIdentities(ctx).CredentialsIdentifier(email).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if len(list) != 1 || list[0].Id != created.Id {
				t.Errorf("list by identifier: %+v", list)
			}

			patched, res, err := api.PatchIdentity(ctx, created.Id).JsonPatch([]ory.JsonPatch{
				{Op: "add", Path: "/traits/name", Value: "Lovelace"},
				{Op: "replace", Path: "/state", Value: "inactive"},
			}).Execute()
			mustStatus(t, res, err, http.StatusOK)
			if patched.Traits.(map[string]any)["name"] != "Lovelace" || patched.GetState() != "inactive" {
				t.Errorf("patched identity: traits %v, state %q", patched.Traits, patched.GetState())
			}

			res, err = api.DeleteIdentity(ctx, created.Id).Execute()
			mustStatus(t, res, err, http.StatusNoContent)
			_, res, err = api.GetIdentity(ctx, created.Id).Execute()
			mustStatus(t, res, err, http.StatusNotFound)
		})
	}
}

// TestReadinessFollowsTheDatabase: /health/ready fails with 503 and the
// Kratos shape when the database is gone; /health/alive does not look at it.
func TestReadinessFollowsTheDatabase(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	if err := srv.DB.Close(); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{srv.Public.URL, srv.Admin.URL} {
		r := send(t, srv, "GET", base+"/health/ready", "", nil)
		if r.status != http.StatusServiceUnavailable || strings.TrimSpace(r.body) != `{"errors":{"database":"the database is not reachable"}}` {
			t.Errorf("ready with the database closed: %d %s", r.status, r.body)
		}
		if r := send(t, srv, "GET", base+"/health/alive", "", nil); r.status != http.StatusOK {
			t.Errorf("alive with the database closed: %d %s", r.status, r.body)
		}
	}
}

// TestProfilingSwitch: net/http/pprof is served on the admin port only when
// profiling.enabled is set.
func TestProfilingSwitch(t *testing.T) {
	off := servertest.Start(t, servertest.Options{NoSMTP: true})
	if r := send(t, off, "GET", off.Admin.URL+"/debug/pprof/", "", nil); r.status != http.StatusNotFound {
		t.Errorf("pprof without profiling.enabled: %d", r.status)
	}
	on := servertest.Start(t, servertest.Options{NoSMTP: true, Env: []string{"PROFILING_ENABLED=true"}})
	if r := send(t, on, "GET", on.Admin.URL+"/debug/pprof/", "", nil); r.status != http.StatusOK || !strings.Contains(r.body, "goroutine") {
		t.Errorf("admin pprof with profiling.enabled: %d", r.status)
	}
	if r := send(t, on, "GET", on.Public.URL+"/debug/pprof/", "", nil); r.status != http.StatusNotFound {
		t.Errorf("public pprof: %d, want 404", r.status)
	}
}

// TestRun: Run listens on the configured ports, calls ready once both
// listen, and returns nil after a graceful shutdown; a port already taken
// is an error naming the listener.
func TestRun(t *testing.T) {
	newServerOn := func(t *testing.T, d sqlstore.Dialect, publicPort, adminPort int) (*config.Config, *server.Server) {
		t.Helper()
		cfg, _, err := config.Load(config.LoadOptions{Dev: true, DataDir: t.TempDir(), Env: []string{
			"DSN=" + sqltest.DSN(t, d),
			"SERVE_PUBLIC_PORT=" + strconv.Itoa(publicPort),
			"SERVE_ADMIN_PORT=" + strconv.Itoa(adminPort),
			"SECRETS_DEFAULT=[\"test-secret-0123456789abcdef\"]",
		}})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(context.Background(), cfg, server.Options{Migrate: true, Version: "run-test", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return cfg, srv
	}
	newServer := func(t *testing.T, publicPort, adminPort int) (*config.Config, *server.Server) {
		t.Helper()
		return newServerOn(t, sqlstore.SQLite, publicPort, adminPort)
	}

	t.Run("ServesUntilCancelled", func(t *testing.T) {
		cfg, srv := newServer(t, testnet.FreePort(t), testnet.FreePort(t))
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx, func() { close(ready) }) }()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("Run returned before ready: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("not ready after 10s")
		}
		for _, base := range []string{cfg.Serve.Public.BaseURL, cfg.Serve.Admin.BaseURL} {
			res, err := http.Get(base + "version")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "run-test") {
				t.Errorf("GET %sversion: %d %s", base, res.StatusCode, b)
			}
		}

		// A request in flight when the shutdown starts is answered.
		conn, err := net.Dial("tcp", cfg.Serve.Admin.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		body := `{"schema_id":"default","traits":{"email":"run@example.test"}}`
		_, _ = io.WriteString(conn, "POST /admin/identities HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body[:10])
		time.Sleep(100 * time.Millisecond)
		cancel()
		time.Sleep(100 * time.Millisecond)
		_, _ = io.WriteString(conn, body[10:])
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || res.StatusCode != http.StatusCreated {
			t.Fatalf("in-flight request: %v %v", res, err)
		}
		res.Body.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run after cancel: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return 20s after cancel")
		}
	})

	t.Run("OpensTheDatabasePoolAsItStarts", func(t *testing.T) {
		_, srv := newServerOn(t, sqlstore.Postgres, testnet.FreePort(t), testnet.FreePort(t))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx, nil) }()
		defer func() { cancel(); <-done }()
		// Nothing asks the database anything: the connections are Run's.
		want := 20 // max_idle_conns' default
		deadline := time.Now().Add(10 * time.Second)
		for srv.DB().SQL.Stats().Idle < want && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if st := srv.DB().SQL.Stats(); st.Idle < want {
			t.Errorf("%d idle connections (%d open) after start, want %d", st.Idle, st.OpenConnections, want)
		}
	})

	t.Run("BusyPortNamesTheListener", func(t *testing.T) {
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer taken.Close()
		_, srv := newServer(t, testnet.FreePort(t), taken.Addr().(*net.TCPAddr).Port)
		err = srv.Run(context.Background(), func() { t.Error("ready called although the admin port is taken") })
		if err == nil || !strings.HasPrefix(err.Error(), "serve.admin: ") {
			t.Fatalf("Run = %v, want an error naming serve.admin", err)
		}
	})
}

func text(s string) func() io.Reader {
	return func() io.Reader { return strings.NewReader(s) }
}

// chunked is a body of unknown length, sent with chunked encoding.
func chunked(s string) func() io.Reader {
	return func() io.Reader { return struct{ io.Reader }{strings.NewReader(s)} }
}

// identityCount counts identities through the admin API.
func identityCount(t *testing.T, srv *servertest.Server) int {
	t.Helper()
	r := send(t, srv, "GET", srv.Admin.URL+"/admin/identities?page_size=1000", "", nil)
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(r.body), &list); err != nil {
		t.Fatalf("list identities: %d %s", r.status, r.body)
	}
	return len(list)
}

var metricLine = regexp.MustCompile(`(?m)^(latchkey_courier_[a-z_]+) ([0-9.e+]+)$`)

// courierMetrics reads the courier series from the admin metrics endpoint.
func courierMetrics(t *testing.T, srv *servertest.Server) map[string]float64 {
	t.Helper()
	r := send(t, srv, "GET", srv.Admin.URL+"/metrics/prometheus", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("metrics: %d %s", r.status, r.body)
	}
	out := map[string]float64{}
	for _, m := range metricLine.FindAllStringSubmatch(r.body, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[m[1]] = v
	}
	return out
}

// TestClientClosedRequestIsNotAnError: a client that hangs up while its
// request waits (here for the database's one write connection, which the
// test holds) is logged as nginx logs it, status 499 at level INFO, not
// as a 500 at level ERROR: alerts on ERROR lines must not fire for every
// impatient client.
func TestClientClosedRequestIsNotAnError(t *testing.T) {
	logs := &servertest.LogBuffer{}
	// No courier: its claims would wait for the held connection too, and
	// the wait below must be the request's.
	srv := servertest.Start(t, servertest.Options{Log: logs, NoCourier: true})
	ctx := context.Background()

	// SQLite writes share one connection: holding it makes the create wait.
	held, err := srv.DB.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	waitsBefore := srv.DB.SQL.Stats().WaitCount

	reqCtx, hangUp := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(reqCtx, "POST", srv.Admin.URL+"/admin/identities",
			strings.NewReader(`{"schema_id":"default","traits":{"email":"impatient@example.test"}}`))
		req.Header.Set("Content-Type", "application/json")
		res, err := srv.HTTPClient(false).Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the create to wait for the database", func() bool { return srv.DB.SQL.Stats().WaitCount > waitsBefore })
	hangUp()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client's request ended with %v, want its cancellation", err)
	}
	waitFor(t, "the request's log line", func() bool { return strings.Contains(logs.String(), "path=/admin/identities") })

	line := regexp.MustCompile(`(?m)^.*path=/admin/identities.*$`).FindString(logs.String())
	for _, want := range []string{"level=INFO", `msg="client closed request"`, "method=POST", "status=499", `context canceled"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %s: %s", want, line)
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a client that hung up was logged as an error:\n%s", logs)
	}
	held.Close()
	if n := srv.CountRows(t, "identities"); n != 0 {
		t.Errorf("%d identities after a create whose client hung up", n)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
