package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/bench"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testnet"
)

// TestEveryScenarioAgainstLatchkey runs each scenario briefly against a
// whole Latchkey in the test process: every one must work end to end
// (requests counted, no errors). Nothing about speed is asserted.
func TestEveryScenarioAgainstLatchkey(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole server")
	}
	// The journeys' mail goes to the driver's SMTP server, on a port
	// chosen now so the server can be told where it is.
	smtpAddr := testnet.FreeAddr(t)
	srv := servertest.Start(t, servertest.Options{NoSMTP: true, Env: []string{
		"COURIER_SMTP_CONNECTION_URI=smtp://" + smtpAddr + "/?disable_starttls=true",
		"SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_IP_MAX=0",
		"SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_ADDRESS_MAX=0",
	}})
	plan := bench.Plan{
		Public: srv.Public.URL, Admin: srv.Admin.URL,
		Scenarios: bench.Expand("all"), Levels: []int{2}, Duration: 400 * time.Millisecond,
		Options: bench.Options{SMTPListen: smtpAddr},
	}
	results, err := bench.RunPlan(context.Background(), plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(bench.All) {
		t.Fatalf("%d results for %d scenarios", len(results), len(bench.All))
	}
	for _, r := range results {
		t.Run(r.Scenario, func(t *testing.T) {
			if r.Requests == 0 || r.Errors != 0 {
				t.Fatalf("%d requests, %d errors %v: %v", r.Requests, r.Errors, r.ErrorsBy, r.ErrorSamples)
			}
			if r.Scenario != "ceiling" && r.CeilingFraction <= 0 {
				t.Fatal("no fraction of the ceiling")
			}
			// Statements per operation come from the server's counters.
			switch {
			case r.Scenario == "ceiling" && r.StatementsPerOp != nil:
				t.Fatal("the ceiling's server has no database, yet statements were counted")
			case r.Scenario != "ceiling" && (r.StatementsPerOp == nil || r.TransactionsPerOp == nil || r.RoundTripsPerOp == nil):
				t.Fatal("no statements or round trips per operation")
			case r.Scenario == "recovery-flow" && *r.StatementsPerOp < 1:
				t.Fatalf("a flow was created with %.2f statements", *r.StatementsPerOp)
			case r.Scenario == "admin-code" && (*r.StatementsPerOp < 3 || *r.TransactionsPerOp < 1):
				t.Fatalf("an admin code took %.2f statements in %.2f transactions", *r.StatementsPerOp, *r.TransactionsPerOp)
			}
			// So does the server's CPU (the test's own process here, driver
			// included): logins hash passwords, which takes CPU time.
			switch {
			case r.Scenario == "ceiling" && r.ServerCPUPerOp != nil:
				t.Fatal("the ceiling's server is not Latchkey, yet its CPU was read")
			case r.Scenario != "ceiling" && r.ServerCPUPerOp == nil:
				t.Fatal("no server CPU per operation")
			case r.Scenario == "login" && *r.ServerCPUPerOp <= 0:
				t.Fatalf("a login took %s of CPU", *r.ServerCPUPerOp)
			}
			switch r.Scenario {
			case "login":
				if r.Notes["hasher"] != "bcrypt cost 4" {
					t.Fatalf("hasher note %q", r.Notes["hasher"])
				}
			case "recovery-journey", "recovery-session":
				if r.MailLatency == nil || r.MailLatency.Max <= 0 {
					t.Fatal("no mail latency")
				}
				// Every journey waited for its code mail, so its mail was
				// sent during the run: the courier counts it once the SMTP
				// server has answered, which it may not have done yet for
				// the last journey of each client when the run ends.
				if r.MailsSentPerOp == nil || r.QueuedAtEnd == nil ||
					*r.MailsSentPerOp*float64(r.Requests) < float64(r.Requests-r.Concurrency)-0.5 {
					t.Fatalf("courier figures: %s mails sent per journey, %s queued at the end", orNil(r.MailsSentPerOp), orNil(r.QueuedAtEnd))
				}
			}
		})
	}
}

// Logins at 16 clients succeed: no client's login is refused by the
// failed-login budget of its identifier, which holds a place for each
// attempt being checked (10), however many clients log in at once.
func TestLoginsOfManyClientsAreNotThrottled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole server")
	}
	// A hash slow enough (~50 ms) that the clients' attempts wait for it
	// together, as they do under load with the default cost of 12.
	srv := servertest.Start(t, servertest.Options{Env: []string{"HASHERS_BCRYPT_COST=10"}})
	results, err := bench.RunPlan(context.Background(), bench.Plan{
		Public: srv.Public.URL, Admin: srv.Admin.URL, Scenarios: []string{"login"},
		Levels: []int{16}, Duration: time.Second,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Requests == 0 || r.Errors != 0 {
		t.Fatalf("%d logins, %d errors %v: %v", r.Requests, r.Errors, r.ErrorsBy, r.ErrorSamples)
	}
}

// Each run stops its mail server, so the next level can start one on the
// same address.
func TestJourneyAtSeveralLevels(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole server")
	}
	addr := testnet.FreeAddr(t)
	srv := servertest.Start(t, servertest.Options{NoSMTP: true, Env: []string{
		"COURIER_SMTP_CONNECTION_URI=smtp://" + addr + "/?disable_starttls=true",
		"SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_IP_MAX=0",
		"SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_ADDRESS_MAX=0",
	}})
	results, err := bench.RunPlan(context.Background(), bench.Plan{
		Public: srv.Public.URL, Admin: srv.Admin.URL, Scenarios: []string{"recovery-session"},
		Levels: []int{1, 2}, Duration: 300 * time.Millisecond, Options: bench.Options{SMTPListen: addr},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Requests == 0 || r.Errors != 0 {
			t.Fatalf("level %d: %d requests, %d errors: %v", r.Concurrency, r.Requests, r.Errors, r.ErrorSamples)
		}
	}
}

// Errors are counted by status, with the first message of each kept.
func TestErrorsByStatus(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{NoSMTP: true})
	s, err := bench.New("recovery-flow", bench.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The admin port has no /self-service/recovery/api: 307 to the public port,
	// which the driver does not follow.
	res, err := bench.Run(context.Background(), s, bench.NewEnv(srv.Admin.URL, srv.Admin.URL, 1), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.Errors != res.ErrorsBy["307"] || !strings.Contains(res.ErrorSamples["307"], "status 307") {
		t.Fatalf("errors %d by status %v samples %v", res.Errors, res.ErrorsBy, res.ErrorSamples)
	}
}

// ceilingChildEnv makes the test binary act as the ceiling's child
// process (TestCeilingChild), as `latchkey bench ceiling-server` does.
const ceilingChildEnv = "LATCHKEY_BENCH_CEILING_CHILD"

func TestCeilingChild(t *testing.T) {
	if os.Getenv(ceilingChildEnv) == "" {
		t.Skip("only as the child process of TestCeilingInAChildProcess")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	_ = bench.ServeCeiling(context.Background(), ln) // until killed
}

func TestCeilingInAChildProcess(t *testing.T) {
	s, err := bench.New("ceiling", bench.Options{CeilingCommand: []string{"env", ceilingChildEnv + "=1", os.Args[0], "-test.run=^TestCeilingChild$"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := bench.Run(context.Background(), s, bench.NewEnv("", "", 2), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != 0 || res.Notes["server"] != "child process" {
		t.Fatalf("unexpected result %+v", res)
	}
}

func TestExpandAll(t *testing.T) {
	got := bench.Expand(" ceiling, all ,whoami")
	if len(got) != len(bench.All)+2 || got[0] != "ceiling" || got[len(got)-1] != "whoami" {
		t.Fatalf("Expand = %v", got)
	}
	for _, name := range bench.All {
		if _, err := bench.New(name, bench.Options{}); err != nil {
			t.Fatalf("All lists %q: %v", name, err)
		}
	}
}

// The enumeration scenario sends its pairs and reports a comparison; with
// the send limits on it stops and says how to turn them off.
func TestEnumerationScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole server")
	}
	srv := servertest.Start(t, servertest.Options{Env: []string{
		"SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_IP_MAX=0",
		"SELFSERVICE_FLOWS_RECOVERY_RATE_LIMIT_PER_ADDRESS_MAX=0",
	}})
	plan := bench.Plan{Public: srv.Public.URL, Admin: srv.Admin.URL, Scenarios: []string{"enumeration"}, Levels: []int{1},
		Options: bench.Options{EnumerationPairs: 5}}
	results, err := bench.RunPlan(context.Background(), plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := results[0]
	c := r.Comparison
	if c == nil || c.Pairs != 5 || r.Requests != 10 || r.Errors != 0 || c.MedianKnown <= 0 || c.MedianUnknown <= 0 || c.P <= 0 || c.P > 1 {
		t.Fatalf("result %+v, comparison %+v", r, c)
	}
	if c.Difference != c.MedianKnown-c.MedianUnknown {
		t.Fatalf("difference %v of medians %v and %v", c.Difference, c.MedianKnown, c.MedianUnknown)
	}
	// The known address got a mail for each of its submissions, warm-up
	// included (20 + 5), and the unknown one none.
	deadline := time.Now().Add(10 * time.Second)
	for srv.SMTP.Count() < 25 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := srv.SMTP.Count(); n != 25 {
		t.Fatalf("%d mails, want 25", n)
	}

	// With the limits on, the run stops with the advice.
	limited := servertest.Start(t, servertest.Options{NoSMTP: true})
	plan.Public, plan.Admin = limited.Public.URL, limited.Admin.URL
	if _, err := bench.RunPlan(context.Background(), plan, nil); err == nil || !strings.Contains(err.Error(), "RATE_LIMIT_PER_ADDRESS_MAX=0") {
		t.Fatalf("run against the default limits: %v", err)
	}
}

// The security notification of each admin code goes to the driver's SMTP
// server during the run, as the journeys' mail does, instead of failing
// and being retried.
func TestAdminCodeNotificationsReachTheDriversSMTPServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole server")
	}
	addr := testnet.FreeAddr(t)
	// Notifications are on by default; servertest turns them off.
	srv := servertest.Start(t, servertest.Options{NoSMTP: true, Env: append(servertest.NotificationsOn(),
		"COURIER_SMTP_CONNECTION_URI=smtp://"+addr+"/?disable_starttls=true")})
	results, err := bench.RunPlan(context.Background(), bench.Plan{
		Public: srv.Public.URL, Admin: srv.Admin.URL, Scenarios: []string{"admin-code"},
		Levels: []int{2}, Duration: time.Second, Options: bench.Options{SMTPListen: addr},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Requests == 0 || r.Errors != 0 || r.Notes["smtp"] != addr {
		t.Fatalf("%d requests, %d errors, notes %v: %v", r.Requests, r.Errors, r.Notes, r.ErrorSamples)
	}
	var msgs []struct {
		TemplateType string `json:"template_type"`
		Status       string `json:"status"`
	}
	resp, err := http.Get(srv.Admin.URL + "/admin/courier/messages?page_size=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		t.Fatal(err)
	}
	sent, notifications := 0, 0
	for _, m := range msgs {
		if m.TemplateType != "security_admin_recovery_issued" {
			continue
		}
		notifications++
		if m.Status == "sent" {
			sent++
		}
	}
	// The driver kept its SMTP server up until the queue was empty, so
	// every notification of the run reached it.
	if notifications == 0 || sent != notifications {
		t.Fatalf("%d of %d notifications sent (%d messages); drained in %v, %v still queued", sent, notifications, len(msgs),
			results[0].DrainedIn, results[0].StillQueued)
	}
}

// orNil prints a figure the driver may not have: its value, or nil.
func orNil[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}
