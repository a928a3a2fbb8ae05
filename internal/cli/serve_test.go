package cli_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServeDev is the README's promise: `latchkey serve --dev` in an empty
// directory, with no file and no configuration, becomes ready, keeps what
// the admin API creates, stops cleanly on SIGTERM and finds everything
// again (identities and sessions) after a restart.
func TestServeDev(t *testing.T) {
	dir := t.TempDir()
	p := freePorts(t)
	const email, password = "ada@example.com", "correct-horse-battery-staple"

	first := start(t, dir, p.env(), "serve", "--dev")
	t.Logf("serve --dev ready after %s (first start: migrations, generated secrets)", first.waitReady(p.publicURL()))

	t.Run("PrintsTheURLs", func(t *testing.T) {
		// The banner is written before the first answer, but it reaches
		// the test through a pipe copier that may not have run yet.
		out := first.waitOutput("is ready")
		for _, want := range []string{"is ready", "public API: " + p.publicURL() + "/", "admin API:  " + p.adminURL() + "/"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("KeepsDatabaseAndSecretsInTheWorkingDirectory", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(dir, "latchkey.sqlite")); err != nil {
			t.Error(err)
		}
		fi, err := os.Stat(filepath.Join(dir, "latchkey-secrets.json"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("secrets file mode %v, want 0600", fi.Mode().Perm())
		}
		if !strings.Contains(first.stderr.String(), "generated development secrets") {
			t.Errorf("stderr lacks the generated-secrets warning:\n%s", first.stderr)
		}
	})

	t.Run("VersionOnBothPorts", func(t *testing.T) {
		for _, base := range []string{p.publicURL(), p.adminURL()} {
			status, body := do(t, "GET", base+"/version", "", "")
			if status != http.StatusOK || !strings.Contains(body, `"version":"`+testVersion+`"`) {
				t.Errorf("%s/version: %d %s", base, status, body)
			}
		}
	})

	// What curl does in the README.
	status, body := do(t, "POST", p.adminURL()+"/admin/identities", "application/json",
		`{"schema_id":"default","traits":{"email":"`+email+`"},"credentials":{"password":{"config":{"password":"`+password+`"}}}}`)
	if status != http.StatusCreated {
		t.Fatalf("create identity: %d %s", status, body)
	}
	var created struct{ ID string }
	mustUnmarshal(t, body, &created)
	token := nativeLogin(t, p.publicURL(), email, password)

	if code := first.stop(); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0\n%s", code, first.stderr)
	}
	if !strings.Contains(first.stderr.String(), "shutting down") {
		t.Errorf("stderr lacks the shutdown line:\n%s", first.stderr)
	}

	second := start(t, dir, p.env(), "serve", "--dev")
	t.Logf("serve --dev ready after %s (restart)", second.waitReady(p.publicURL()))
	if !strings.Contains(second.stderr.String(), "using development secrets from") {
		t.Errorf("the restart did not reuse the development secrets:\n%s", second.stderr)
	}

	t.Run("IdentitySurvivesRestart", func(t *testing.T) {
		status, body := do(t, "GET", p.adminURL()+"/admin/identities/"+created.ID, "", "")
		if status != http.StatusOK || !strings.Contains(body, email) {
			t.Fatalf("get identity after restart: %d %s", status, body)
		}
	})
	t.Run("SessionSurvivesRestart", func(t *testing.T) {
		req, _ := http.NewRequest("GET", p.publicURL()+"/sessions/whoami", nil)
		req.Header.Set("X-Session-Token", token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("whoami with a token from before the restart: %d", res.StatusCode)
		}
	})
	if code := second.stop(); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0", code)
	}
}

// TestServeDevDataDir: --data-dir holds the database and the secrets; the
// working directory stays empty.
func TestServeDevDataDir(t *testing.T) {
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "state")
	p := freePorts(t)
	proc := start(t, dir, p.env(), "serve", "--dev", "--data-dir", data)
	proc.waitReady(p.publicURL())
	if code := proc.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for _, f := range []string{"latchkey.sqlite", "latchkey-secrets.json"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("%s not in the data dir: %v", f, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("working directory not empty: %v", entries)
	}
}

// TestServeShutdownFinishesInFlightRequest: SIGTERM closes the listeners at
// once, but a request already being received is completed and answered
// before the process exits 0.
func TestServeShutdownFinishesInFlightRequest(t *testing.T) {
	dir := t.TempDir()
	p := freePorts(t)
	proc := start(t, dir, p.env(), "serve", "--dev")
	proc.waitReady(p.publicURL())

	body := `{"schema_id":"default","traits":{"email":"in-flight@example.com"}}`
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p.admin))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /admin/identities HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body[:half])
	time.Sleep(200 * time.Millisecond) // the handler is now waiting for the rest of the body

	if err := proc.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Shutdown has begun once new connections are refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.admin), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the admin listener still accepts connections 10s after SIGINT")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if proc.exited() {
		t.Fatalf("latchkey exited with a request in flight:\n%s", proc.stderr)
	}

	if _, err := conn.Write([]byte(body[half:])); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to the in-flight request: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request answered %d, want 201", res.StatusCode)
	}
	if code := proc.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// TestVersion: `latchkey version` and `latchkey --version` print the
// same line.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := run(t, t.TempDir(), nil, "", args...)
		if r.code != 0 || r.stdout != "latchkey "+testVersion+"\n" || r.stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestUnknownFlagFails(t *testing.T) {
	r := run(t, t.TempDir(), nil, "", "serve", "--no-such-flag")
	if r.code == 0 || !strings.Contains(r.stderr, "unknown flag: --no-such-flag") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// nativeLogin logs in through the native (API) login flow and returns the
// session token.
func nativeLogin(t *testing.T, publicURL, identifier, password string) string {
	t.Helper()
	status, body := do(t, "GET", publicURL+"/self-service/login/api", "", "")
	if status != http.StatusOK {
		t.Fatalf("create login flow: %d %s", status, body)
	}
	var flow struct{ ID string }
	mustUnmarshal(t, body, &flow)
	status, body = do(t, "POST", publicURL+"/self-service/login?flow="+flow.ID, "application/json",
		`{"method":"password","identifier":"`+identifier+`","password":"`+password+`"}`)
	if status != http.StatusOK {
		t.Fatalf("login: %d %s", status, body)
	}
	var ok struct {
		SessionToken string `json:"session_token"`
	}
	mustUnmarshal(t, body, &ok)
	if ok.SessionToken == "" {
		t.Fatalf("no session token: %s", body)
	}
	return ok.SessionToken
}

func mustUnmarshal(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

// TestServeMemoryDSN: the Kratos quickstart's `dsn: memory` serves without
// --migrate (a `migrate sql` in another process cannot reach a database
// that lives in the server's memory), as do Kratos's other in-memory
// forms; what the admin API creates can be read back.
func TestServeMemoryDSN(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		file string
	}{
		{name: "ConfigFile", file: "dsn: memory\n"},
		{name: "Env", env: []string{"DSN=memory"}},
		{name: "KratosInMemoryDSN", env: []string{"DSN=sqlite://file::memory:?_fk=true&cache=shared"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := freePorts(t)
			env := append(append(p.env(), testSecretsEnv), tc.env...)
			args := []string{"serve"}
			if tc.file != "" {
				args = append(args, "-c", writeFile(t, dir, "kratos.yml", tc.file))
			}
			proc := start(t, dir, env, args...)
			proc.waitReady(p.publicURL())
			if !strings.Contains(proc.stderr.String(), "applied database migrations") {
				t.Errorf("no migration log line:\n%s", proc.stderr)
			}
			status, body := do(t, "POST", p.adminURL()+"/admin/identities", "application/json", `{"schema_id":"default","traits":{"email":"memory@example.com"}}`)
			if status != http.StatusCreated {
				t.Fatalf("create identity: %d %s", status, body)
			}
			if status, body := do(t, "GET", p.adminURL()+"/admin/identities", "", ""); status != http.StatusOK || !strings.Contains(body, "memory@example.com") {
				t.Errorf("list identities: %d %s", status, body)
			}
			if code := proc.stop(); code != 0 {
				t.Fatalf("exit code %d after SIGTERM", code)
			}
			want := 0 // files in the working directory: only the config file
			if tc.file != "" {
				want = 1
			}
			if entries, _ := os.ReadDir(dir); len(entries) != want {
				t.Errorf("the database left files in the working directory: %v", entries)
			}
		})
	}
}

// TestREADMEPortsExample runs the README's "Other ports" examples (on
// free ports instead of 8433 and 8434): the environment variables, then
// the config file with base URLs, which the banner and the health
// checks must follow.
func TestREADMEPortsExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	envLine := regexp.MustCompile(`(?m)^(SERVE_PUBLIC_PORT=8433 SERVE_ADMIN_PORT=8434) go run \./cmd/latchkey serve --dev$`).FindSubmatch(readme)
	file := regexp.MustCompile("(?s)go run ./cmd/latchkey serve --dev -c ports.yml`\\):\n\n```yaml\n(.*?)```").FindSubmatch(readme)
	if envLine == nil || file == nil {
		t.Fatal("README.md lacks the ports examples")
	}
	p := freePorts(t)
	onFreePorts := strings.NewReplacer("8433", strconv.Itoa(p.public), "8434", strconv.Itoa(p.admin)).Replace

	t.Run("Environment", func(t *testing.T) {
		proc := start(t, t.TempDir(), strings.Fields(onFreePorts(string(envLine[1]))), "serve", "--dev")
		proc.waitReady(p.publicURL())
		if status, body := do(t, "GET", p.adminURL()+"/health/ready", "", ""); status != http.StatusOK {
			t.Errorf("admin health: %d %s", status, body)
		}
		proc.stop()
	})
	t.Run("ConfigFile", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "ports.yml", onFreePorts(string(file[1])))
		proc := start(t, dir, nil, "serve", "--dev", "-c", "ports.yml")
		proc.waitReady(p.publicURL())
		out := proc.waitOutput("admin API")
		for _, want := range []string{
			fmt.Sprintf("public API: http://localhost:%d/", p.public),
			fmt.Sprintf("admin API:  http://localhost:%d/", p.admin),
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		if status, body := do(t, "GET", fmt.Sprintf("http://localhost:%d/health/ready", p.admin), "", ""); status != http.StatusOK {
			t.Errorf("admin health: %d %s", status, body)
		}
		proc.stop()
	})
}
