package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testnet"
)

// testVersion is stamped into the test binary with -ldflags, the way
// release builds set cli.Version.
const testVersion = "v9.8.7-clitest"

// binary is the latchkey executable the tests run, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "latchkey-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cli test:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "latchkey")
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cli test: the go tool is needed to build the binary under test:", err)
		return 1
	}
	build := exec.Command(goTool, "build", "-o", binary,
		"-ldflags", "-X github.com/latchkey/latchkey/internal/cli.Version="+testVersion,
		"github.com/latchkey/latchkey/cmd/latchkey")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cli test: go build:", err)
		return 1
	}
	return m.Run()
}

// baseEnv is the environment every latchkey process starts from: enough
// to run, and nothing from the test runner's environment that Latchkey
// would read as configuration (DSN, SECRETS_DEFAULT, LOG_LEVEL, ...).
func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
}

// testSecretsEnv sets a valid secrets.default for runs outside dev mode.
const testSecretsEnv = `SECRETS_DEFAULT=["cli-test-secret-0123456789"]`

// result is a finished latchkey run.
type result struct {
	code           int
	stdout, stderr string
}

// run runs latchkey to completion in dir with env added to baseEnv.
func run(t *testing.T, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run latchkey %v: %v", args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// process is a latchkey running in the background.
type process struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *servertest.LogBuffer
	started        time.Time
	done           chan struct{} // closed when the process has exited
}

// start runs latchkey in the background in dir; the test's cleanup kills
// it if it is still running.
func start(t *testing.T, dir string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), env...)
	p := &process{t: t, cmd: cmd, stdout: &servertest.LogBuffer{}, stderr: &servertest.LogBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start latchkey %v: %v", args, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("latchkey %v stdout:\n%s\nstderr:\n%s", args, p.stdout, p.stderr)
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady polls baseURL/health/ready until it answers 200 and returns
// how long that took since the process started.
func (p *process) waitReady(baseURL string) time.Duration {
	p.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			p.t.Fatalf("latchkey exited with %d before it was ready:\n%s", p.cmd.ProcessState.ExitCode(), p.stderr)
		}
		res, err := client.Get(baseURL + "/health/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(p.started)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.t.Fatalf("latchkey not ready at %s after 30s:\n%s", baseURL, p.stderr)
	return 0
}

// waitOutput waits up to 10s for stdout to contain want and returns it.
func (p *process) waitOutput(want string) string {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stdout.String(), want) && time.Now().Before(deadline) && !p.exited() {
		time.Sleep(5 * time.Millisecond)
	}
	return p.stdout.String()
}

// stop sends SIGTERM and returns the exit code.
func (p *process) stop() int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	return p.wait(30 * time.Second)
}

// wait waits for the process to end and returns its exit code.
func (p *process) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		p.t.Fatalf("latchkey still running after %s:\n%s", timeout, p.stderr)
		return -1
	}
}

// ports are a public and an admin port with the environment that selects them.
type ports struct {
	public, admin int
}

func freePorts(t *testing.T) ports {
	return ports{public: testnet.FreePort(t), admin: testnet.FreePort(t)}
}

func (p ports) env() []string {
	return []string{"SERVE_PUBLIC_PORT=" + strconv.Itoa(p.public), "SERVE_ADMIN_PORT=" + strconv.Itoa(p.admin)}
}

func (p ports) publicURL() string { return "http://127.0.0.1:" + strconv.Itoa(p.public) }
func (p ports) adminURL() string  { return "http://127.0.0.1:" + strconv.Itoa(p.admin) }

// do sends one request and returns the status and body.
func do(t *testing.T, method, url, contentType, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}
