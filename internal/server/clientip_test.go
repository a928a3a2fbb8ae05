package server_test

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestClientIPBehindTrustedProxies: behind a trusted proxy every limit
// counts the client X-Forwarded-For names, so two users behind it do not
// share a budget; from any other peer the header is ignored, so a client
// cannot pick the address it is counted by. Request logs name the same
// address.
func TestClientIPBehindTrustedProxies(t *testing.T) {
	logs := &servertest.LogBuffer{}
	opts := servertest.Options{Log: logs, Env: []string{
		`SERVE_PUBLIC_TRUSTED_PROXIES=["127.0.0.1"]`,
		"SELFSERVICE_FLOWS_LOGIN_RATE_LIMIT_PER_IP_MAX=2",
		"SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_IP_MAX=2",
	}}
	servertest.Each(t, opts, func(t *testing.T, srv *servertest.Server) {
		proxy := srv.HTTPClientFrom("127.0.0.1", false)
		stranger := srv.HTTPClientFrom("127.0.0.2", false)
		n := 0
		// submit posts body to a new native flow of kind and returns the status.
		submit := func(c *http.Client, kind, forwardedFor string, body map[string]any) int {
			t.Helper()
			h := http.Header{"X-Forwarded-For": {forwardedFor}}
			res, f := servertest.Do(t, c, "GET", srv.Config.PublicURL("self-service/"+kind+"/api"), nil, h)
			if res.StatusCode != 200 {
				t.Fatalf("init %s: %d %v", kind, res.StatusCode, f)
			}
			res, _ = servertest.Do(t, c, "POST", srv.Config.PublicURL("self-service/"+kind+"?flow="+f["id"].(string)), body, h)
			return res.StatusCode
		}
		// Each guess and each recovery request names a new identifier or
		// address, so only the per-IP limits bind.
		guess := func(c *http.Client, forwardedFor string) int {
			n++
			return submit(c, "login", forwardedFor, map[string]any{"method": "password", "identifier": fmt.Sprintf("user-%d@example.test", n), "password": "wrong-password"})
		}
		askRecovery := func(c *http.Client, forwardedFor string) int {
			n++
			return submit(c, "recovery", forwardedFor, map[string]any{"method": "code", "email": fmt.Sprintf("user-%d@example.test", n)})
		}
		expect := func(what string, got []int, want ...int) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: statuses %v, want %v", what, got, want)
			}
		}

		t.Run("UsersBehindTheProxyHaveTheirOwnLoginBudget", func(t *testing.T) {
			expect("first user", []int{guess(proxy, "198.51.100.1"), guess(proxy, "198.51.100.1"), guess(proxy, "198.51.100.1")}, 400, 400, 429)
			// A spoofed entry left of the proxy's own does not move the count.
			expect("first user, spoofing", []int{guess(proxy, "203.0.113.99, 198.51.100.1")}, 429)
			expect("second user", []int{guess(proxy, "198.51.100.2")}, 400)
		})

		t.Run("UsersBehindTheProxyHaveTheirOwnRecoveryLimit", func(t *testing.T) {
			expect("first user", []int{askRecovery(proxy, "198.51.100.1"), askRecovery(proxy, "198.51.100.1"), askRecovery(proxy, "198.51.100.1")}, 200, 200, 429)
			expect("second user", []int{askRecovery(proxy, "198.51.100.2")}, 200)
		})

		t.Run("AnUntrustedClientCannotPickItsAddress", func(t *testing.T) {
			expect("login", []int{guess(stranger, "198.51.100.10"), guess(stranger, "198.51.100.11"), guess(stranger, "198.51.100.12")}, 400, 400, 429)
			expect("recovery", []int{askRecovery(stranger, "198.51.100.10"), askRecovery(stranger, "198.51.100.11"), askRecovery(stranger, "198.51.100.12")}, 200, 200, 429)
		})

		t.Run("RequestLogsNameTheClient", func(t *testing.T) {
			refused := regexp.MustCompile(`(?m)^.*msg="login attempt refused.*$`)
			var forwarded, stranger bool
			for _, line := range refused.FindAllString(logs.String(), -1) {
				forwarded = forwarded || regexp.MustCompile(`client_ip=198\.51\.100\.1 `).MatchString(line)
				stranger = stranger || regexp.MustCompile(`client_ip=127\.0\.0\.2 `).MatchString(line)
			}
			if !forwarded || !stranger {
				t.Fatalf("refusals logged without the client address (forwarded %v, stranger %v):\n%s", forwarded, stranger, logs.String())
			}
		})
	})
}
