package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scenarios lists every scenario by name.
func Scenarios() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Options tune scenarios.
type Options struct {
	// SMTPListen is where the recovery journey's SMTP server listens; the
	// server under test must send its mail there.
	SMTPListen string
	// CeilingCommand, when set, runs the ceiling's trivial handler in a
	// child process (the command must serve it with ServeCeiling and print
	// its base URL as the first line of its output), so that the ceiling
	// pays for crossing a process boundary as every measured server does.
	// Without it the handler runs inside the driver.
	CeilingCommand []string
	// EnumerationPairs is how many known/unknown pairs the enumeration
	// scenario sends (default DefaultEnumerationPairs).
	EnumerationPairs int
}

var registry = map[string]func(Options) Scenario{
	"ceiling":       func(o Options) Scenario { return &ceiling{command: o.CeilingCommand} },
	"whoami":        func(Options) Scenario { return &whoami{carrier: "token"} },
	"whoami-token":  func(Options) Scenario { return &whoami{carrier: "token"} },
	"whoami-bearer": func(Options) Scenario { return &whoami{carrier: "bearer"} },
	"whoami-cookie": func(Options) Scenario { return &whoami{carrier: "cookie"} },
	"recovery-flow": func(Options) Scenario { return &recoveryFlow{} },
	"admin-code":    func(o Options) Scenario { return &adminCode{listen: o.SMTPListen} },
	"login":         func(Options) Scenario { return &login{} },
	"recovery-journey": func(o Options) Scenario {
		return &journey{listen: o.SMTPListen, settings: true}
	},
	"recovery-session": func(o Options) Scenario { return &journey{listen: o.SMTPListen} },
	"enumeration": func(o Options) Scenario {
		if o.EnumerationPairs <= 0 {
			o.EnumerationPairs = DefaultEnumerationPairs
		}
		return &enumeration{pairs: o.EnumerationPairs}
	},
	"verification-enumeration": func(o Options) Scenario {
		if o.EnumerationPairs <= 0 {
			o.EnumerationPairs = DefaultEnumerationPairs
		}
		return &enumeration{pairs: o.EnumerationPairs, flow: "verification"}
	},
}

// All is the order "all" runs every scenario in: the ceiling first, so
// that the others are given as a fraction of it.
var All = []string{"ceiling", "whoami-token", "whoami-bearer", "whoami-cookie", "recovery-flow", "admin-code", "login", "recovery-session", "recovery-journey"}

// Expand turns a comma-separated scenario list into names, "all" standing
// for All.
func Expand(list string) []string {
	var out []string
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "":
		case "all":
			out = append(out, All...)
		default:
			out = append(out, name)
		}
	}
	return out
}

// New returns the named scenario.
func New(name string, o Options) (Scenario, error) {
	f, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown scenario %q (known: all, %s)", name, strings.Join(Scenarios(), ", "))
	}
	return f(o), nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// strongPassword is accepted by the password policy (long, random, not
// similar to the address).
func strongPassword() string { return "Lk-" + randomSuffix() + "-" + randomSuffix() + "!" }

// ceiling measures the machine, not Latchkey: a trivial handler that
// returns a fixed session JSON, as fast as Go's net/http can, in a child
// process when a command is given (see Options.CeilingCommand).
type ceiling struct{ command []string }

func (ceiling) Name() string { return "ceiling" }

// ceilingBody is a session of the size whoami returns.
const ceilingBody = `{"id":"7d0471f7-b896-4218-808d-de22f32ac358","active":true,"expires_at":"2026-11-23T11:27:55.04604009Z","authenticated_at":"2026-11-22T11:27:55.04604009Z","authenticator_assurance_level":"aal1","authentication_methods":[{"method":"password","aal":"aal1","completed_at":"2026-11-22T11:27:55.046039038Z"}],"issued_at":"2026-11-22T11:27:55.04604009Z","identity":{"id":"1fca3827-e0ea-46b8-b9ef-1f95f531a723","schema_id":"default","schema_url":"http://127.0.0.1:4433/schemas/ZGVmYXVsdA","state":"active","traits":{"email":"user@example.test"},"metadata_public":null,"created_at":"2026-11-22T11:26:22.622801Z","updated_at":"2026-11-22T11:26:22.622801Z","organization_id":null},"devices":[{"id":"072dcd9c-7764-41c1-b35c-e8ed106ce618","ip_address":"127.0.0.1","user_agent":"bench","location":""}]}`

// ceilingHandler is the trivial handler: the headers and body whoami
// would send, no work.
func ceilingHandler() http.Handler {
	body := []byte(ceilingBody)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	})
}

// ServeCeiling serves the ceiling's trivial handler on ln until ctx ends,
// with the server settings of `latchkey serve`.
func ServeCeiling(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: ceilingHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func (c *ceiling) Setup(ctx context.Context, env *Env) (Op, error) {
	base, err := c.start(ctx, env)
	if err != nil {
		return nil, err
	}
	env.Public = base
	u := base + "/sessions/whoami"
	return func(ctx context.Context, _ int) (int, error) {
		return env.call(ctx, http.MethodGet, u, nil, http.StatusOK, nil, "X-Session-Token", "ory_st_fixed")
	}, nil
}

// start runs the handler and returns its base URL.
func (c *ceiling) start(ctx context.Context, env *Env) (string, error) {
	if len(c.command) == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		srvCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = ServeCeiling(srvCtx, ln); close(done) }()
		env.OnDone(func() { stop(); <-done })
		env.Notes["server"] = "in the driver's process"
		return "http://" + ln.Addr().String(), nil
	}
	cmd := exec.CommandContext(ctx, c.command[0], c.command[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start the ceiling server: %w", err)
	}
	env.OnDone(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("ceiling server: no address: %w", err)
	}
	env.Notes["server"] = "child process"
	return strings.TrimSpace(line), nil
}

// whoami checks a session with the chosen carrier: the X-Session-Token
// header (token), "Authorization: Bearer" (bearer) or the session cookie
// of a browser login (cookie). Every worker presents the same session, as
// the many requests of one user's page do.
type whoami struct{ carrier string }

func (w *whoami) Name() string { return "whoami-" + w.carrier }

func (w *whoami) Setup(ctx context.Context, env *Env) (Op, error) {
	email := "bench-whoami-" + randomSuffix() + "@bench.test"
	pw := strongPassword()
	if _, err := env.createIdentity(ctx, email, pw); err != nil {
		return nil, err
	}
	u := env.Public + "/sessions/whoami"
	switch w.carrier {
	case "cookie":
		cookie, err := browserLogin(ctx, env, email, pw)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, _ int) (int, error) {
			return env.call(ctx, http.MethodGet, u, nil, http.StatusOK, nil, "Cookie", cookie)
		}, nil
	default:
		_, token, err := env.nativeLogin(ctx, email, pw)
		if err != nil {
			return nil, err
		}
		h, v := "X-Session-Token", token
		if w.carrier == "bearer" {
			h, v = "Authorization", "Bearer "+token
		}
		return func(ctx context.Context, _ int) (int, error) {
			return env.call(ctx, http.MethodGet, u, nil, http.StatusOK, nil, h, v)
		}, nil
	}
}

// browserLogin runs an SPA login and returns the Cookie header to send.
func browserLogin(ctx context.Context, env *Env, email, pw string) (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: env.Client.Transport}
	be := &Env{Public: env.Public, Admin: env.Admin, Client: c}
	var flow struct {
		ID string `json:"id"`
		UI struct {
			Nodes []struct {
				Attributes struct {
					Name  string `json:"name"`
					Value any    `json:"value"`
				} `json:"attributes"`
			} `json:"nodes"`
		} `json:"ui"`
	}
	if _, err := be.call(ctx, http.MethodGet, env.Public+"/self-service/login/browser", nil, http.StatusOK, &flow); err != nil {
		return "", err
	}
	csrf := ""
	for _, n := range flow.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			csrf, _ = n.Attributes.Value.(string)
		}
	}
	if _, err := be.call(ctx, http.MethodPost, env.Public+"/self-service/login?flow="+flow.ID,
		map[string]any{"method": "password", "identifier": email, "password": pw, "csrf_token": csrf}, http.StatusOK, nil); err != nil {
		return "", err
	}
	u, _ := url.Parse(env.Public + "/")
	var parts []string
	for _, ck := range jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; "), nil
}

// recoveryFlow creates native recovery flows.
type recoveryFlow struct{}

func (recoveryFlow) Name() string { return "recovery-flow" }

func (recoveryFlow) Setup(ctx context.Context, env *Env) (Op, error) {
	u := env.Public + "/self-service/recovery/api"
	return func(ctx context.Context, _ int) (int, error) {
		return env.call(ctx, http.MethodGet, u, nil, http.StatusOK, nil)
	}, nil
}

// adminCode creates admin recovery codes for one identity. Each code
// queues a security notification, which the server sends to the driver's
// SMTP server, as the journeys' mail.
type adminCode struct{ listen string }

func (adminCode) Name() string { return "admin-code" }

func (a adminCode) Setup(ctx context.Context, env *Env) (Op, error) {
	if _, err := serveMail(env, a.listen); err != nil {
		return nil, err
	}
	id, err := env.createIdentity(ctx, "bench-admin-"+randomSuffix()+"@bench.test", "")
	if err != nil {
		return nil, err
	}
	u := env.Admin + "/admin/recovery/code"
	body := map[string]any{"identity_id": id, "expires_in": "1h"}
	return func(ctx context.Context, _ int) (int, error) {
		return env.call(ctx, http.MethodPost, u, body, http.StatusCreated, nil)
	}, nil
}

// login runs native password logins (flow creation + submission), each
// client as one of a few identities.
type login struct{}

func (login) Name() string { return "login" }

var bcryptCost = regexp.MustCompile(`^\$2[aby]\$(\d\d)\$`)

// clientsPerLoginIdentity is how many clients log in as one identity.
// The failed-login budget of an identifier (10) holds a place for every
// attempt still being checked, so more than 10 simultaneous logins of one
// identifier are refused even when they would succeed
// (docs/login-registration.md, "Failed-login budgets"): real load comes
// from many people.
const clientsPerLoginIdentity = 8

func (login) Setup(ctx context.Context, env *Env) (Op, error) {
	pw := strongPassword()
	emails := make([]string, (max(env.Concurrency, 1)+clientsPerLoginIdentity-1)/clientsPerLoginIdentity)
	var id string
	for n := range emails {
		emails[n] = "bench-login-" + randomSuffix() + "@bench.test"
		var err error
		if id, err = env.createIdentity(ctx, emails[n], pw); err != nil {
			return nil, err
		}
	}
	var ident struct {
		Credentials map[string]struct {
			Config struct {
				HashedPassword string `json:"hashed_password"`
			} `json:"config"`
		} `json:"credentials"`
	}
	if _, err := env.call(ctx, http.MethodGet, env.Admin+"/admin/identities/"+id+"?include_credential=password", nil, http.StatusOK, &ident); err == nil {
		h := ident.Credentials["password"].Config.HashedPassword
		if m := bcryptCost.FindStringSubmatch(h); m != nil {
			cost, _ := strconv.Atoi(m[1])
			env.Notes["hasher"] = fmt.Sprintf("bcrypt cost %d", cost)
		} else if strings.HasPrefix(h, "$argon2") {
			env.Notes["hasher"] = strings.SplitN(h, "$", 5)[3]
		}
	}
	return func(ctx context.Context, worker int) (int, error) {
		status, _, err := env.nativeLogin(ctx, emails[worker%len(emails)], pw)
		return status, err
	}, nil
}

// journey is a native recovery: flow → email → code from the mail →
// code → session, and with settings a new password through the settings
// flow the recovery leads to (recovery-journey). Without settings
// (recovery-session) it stops at the recovered session, so it shows the
// journey without the password hasher. The driver runs the SMTP server
// the server under test delivers to.
type journey struct {
	listen   string
	settings bool
	mail     *mailSink
}

func (j *journey) Name() string {
	if j.settings {
		return "recovery-journey"
	}
	return "recovery-session"
}

func (j *journey) Setup(ctx context.Context, env *Env) (Op, error) {
	var err error
	if j.mail, err = serveMail(env, j.listen); err != nil {
		return nil, err
	}
	// One identity per worker, created before the clock starts (without a
	// password: the journey sets one).
	emails := make([]string, env.Concurrency)
	for w := range emails {
		emails[w] = fmt.Sprintf("bench-journey-%s-%d@bench.test", randomSuffix(), w)
		if _, err := env.createIdentity(ctx, emails[w], ""); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context, w int) (int, error) { return j.run(ctx, env, emails[w]) }, nil
}

func (j *journey) run(ctx context.Context, env *Env, email string) (int, error) {
	var flow struct {
		ID string `json:"id"`
	}
	if status, err := env.call(ctx, http.MethodGet, env.Public+"/self-service/recovery/api", nil, http.StatusOK, &flow); err != nil {
		return status, err
	}
	wait := j.mail.expect(email)
	sent := time.Now()
	if status, err := env.call(ctx, http.MethodPost, env.Public+"/self-service/recovery?flow="+flow.ID,
		map[string]any{"method": "code", "email": email}, http.StatusOK, nil); err != nil {
		j.mail.forget(email)
		return status, err
	}
	var code string
	select {
	case code = <-wait:
		env.recordMail(time.Since(sent))
	case <-time.After(20 * time.Second):
		j.mail.forget(email)
		return 0, fmt.Errorf("no recovery mail for %s within 20s", email)
	case <-ctx.Done():
		j.mail.forget(email)
		return 0, ctx.Err()
	}
	var done struct {
		ContinueWith []struct {
			Action          string `json:"action"`
			OrySessionToken string `json:"ory_session_token"`
			Flow            struct {
				ID string `json:"id"`
			} `json:"flow"`
		} `json:"continue_with"`
	}
	if status, err := env.call(ctx, http.MethodPost, env.Public+"/self-service/recovery?flow="+flow.ID,
		map[string]any{"method": "code", "code": code}, http.StatusOK, &done); err != nil {
		return status, err
	}
	var token, settingsID string
	for _, c := range done.ContinueWith {
		switch c.Action {
		case "set_ory_session_token":
			token = c.OrySessionToken
		case "show_settings_ui":
			settingsID = c.Flow.ID
		}
	}
	if token == "" || settingsID == "" {
		return http.StatusOK, fmt.Errorf("recovery answer lacks the session token or the settings flow")
	}
	if !j.settings {
		return http.StatusOK, nil
	}
	return env.call(ctx, http.MethodPost, env.Public+"/self-service/settings?flow="+settingsID,
		map[string]any{"method": "password", "password": strongPassword()}, http.StatusOK, nil, "X-Session-Token", token)
}
