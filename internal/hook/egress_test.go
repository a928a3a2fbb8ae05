package hook

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/httpx"
)

func TestEgressAddressPolicy(t *testing.T) {
	for _, tt := range []struct {
		addr string
		// public: any call may reach it; exempt: an exception URL may.
		public, exempt bool
	}{
		{"93.184.215.14", true, true},
		{"8.8.8.8", true, true},
		{"2606:4700:4700::1111", true, true},
		{"::ffff:93.184.215.14", true, true},

		{"127.0.0.1", false, true},
		{"127.255.255.254", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true}, // IPv4-mapped loopback
		{"10.1.2.3", false, true},
		{"172.16.0.1", false, true},
		{"172.31.255.255", false, true},
		{"192.168.1.1", false, true},
		{"100.64.0.1", false, true}, // carrier-grade NAT
		{"100.127.255.255", false, true},
		{"169.254.169.254", false, true}, // cloud metadata
		{"fd00::1", false, true},         // unique local
		{"fc00::1", false, true},
		{"fe80::1", false, true},
		{"fe80::1%eth0", false, true},

		{"0.0.0.0", false, false}, // reaches the local host
		{"0.1.2.3", false, false},
		{"::", false, false},
		{"255.255.255.255", false, false},
		{"224.0.0.1", false, false},
		{"240.0.0.1", false, false},
		{"192.0.2.1", false, false},
		{"198.18.0.1", false, false},
		{"ff02::1", false, false},
		{"64:ff9b::7f00:1", false, false}, // NAT64 of 127.0.0.1
		{"2002:7f00:1::", false, false},   // 6to4 of 127.0.0.1
		{"2001::1", false, false},         // Teredo
		{"2001:db8::1", false, false},
		{"::127.0.0.1", false, false}, // IPv4-compatible, long deprecated

		{"172.32.0.1", true, true}, // just outside 172.16.0.0/12
		{"100.128.0.1", true, true},
		{"11.0.0.1", true, true},
	} {
		a := netip.MustParseAddr(tt.addr)
		if got := publicOnly(a); got != tt.public {
			t.Errorf("publicOnly(%s) = %v, want %v", tt.addr, got, tt.public)
		}
		if got := publicOrInternal(a); got != tt.exempt {
			t.Errorf("publicOrInternal(%s) = %v, want %v", tt.addr, got, tt.exempt)
		}
	}
}

func TestEgressDialCheck(t *testing.T) {
	for _, tt := range []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "93.184.215.14:443", true},
		{"tcp6", "[2606:4700:4700::1111]:443", true},
		{"tcp4", "127.0.0.1:80", false},
		{"tcp6", "[::1]:80", false},
		{"udp4", "93.184.215.14:53", false},
		{"tcp4", "example.com:80", false}, // never dialled by name
	} {
		err := checkDial(tt.network, tt.address, publicOnly)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, errNotPublic)) {
			t.Errorf("checkDial(%s, %s) = %v, want ok=%v", tt.network, tt.address, err, tt.ok)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		glob, url string
		match     bool
	}{
		{"http://127.0.0.1:4455/hook", "http://127.0.0.1:4455/hook", true},
		{"http://127.0.0.1:4455/hook", "http://127.0.0.1:4455/HOOK", false},
		{"http://127.0.0.1:4455/hook", "http://127.0.0.1:4455/hook/x", false},
		{"http://127.0.0.1:*/hooks/*", "http://127.0.0.1:8080/hooks/signup", true},
		{"http://127.0.0.1:*/hooks/*", "http://127.0.0.1:8080/hooks/a/b", false},
		{"http://127.0.0.1:*/hooks/**", "http://127.0.0.1:8080/hooks/a/b", true},
		{"https://*.internal/hook", "https://crm.internal/hook", true},
		{"https://*.internal/hook", "https://a.crm.internal/hook", false},
		{"https://**.internal/hook", "https://a.crm.internal/hook", true},
		{"http://10.0.0.?/x", "http://10.0.0.7/x", true},
		{"http://10.0.0.?/x", "http://10.0.0.17/x", false},
		// Regular expression syntax is literal text.
		{"http://a.b/(x|y)+", "http://a.b/(x|y)+", true},
		{"http://a.b/(x|y)+", "http://a.b/xx", false},
		{"http://a+b.example/", "http://aab.example/", false},
		{"https://bücher.example/*", "https://bücher.example/x", true},
		{"https://b\xffx.example/", "https://b\uFFFDx.example/", true}, // invalid UTF-8 compiles
		{"", "", true},
	} {
		if got := Glob(tt.glob).MatchString(tt.url); got != tt.match {
			t.Errorf("Glob(%q) on %q = %v, want %v", tt.glob, tt.url, got, tt.match)
		}
	}
}

// TestEgressRefusesPrivateAddresses: with the policy on, a hook on
// 127.0.0.1 fails like an unreachable one (502, the address in no
// answer), is not retried and never reaches the receiver; an exception
// URL reaches it, but a redirect from there to another URL does not.
func TestEgressRefusesPrivateAddresses(t *testing.T) {
	tg := newTarget(t)
	port := tg.URL[strings.LastIndexByte(tg.URL, ':')+1:]
	caller := func(t *testing.T, exceptions ...string) *Caller {
		c := testCaller(t, Limits{})
		c.client = NewEgress(true, exceptions).Client()
		return c
	}
	refused := func(t *testing.T, c *Caller, url string) {
		t.Helper()
		before := len(tg.requests())
		_, err := run(t, c, &WebHook{Name: "t", URL: url, Method: "POST"}, testEvent())
		he := httpx.AsError(err)
		if he.Code != http.StatusBadGateway || strings.Contains(he.Reason+he.Message, "127.0.0.1") || strings.Contains(he.Message, "localhost") {
			t.Fatalf("err = %v (%d %q %q)", err, he.Code, he.Reason, he.Message)
		}
		if n := len(tg.requests()) - before; n != 0 {
			t.Errorf("the receiver got %d requests", n)
		}
	}

	t.Run("PrivateAddressIsRefused", func(t *testing.T) {
		c := caller(t)
		refused(t, c, tg.URL+"/hook")
		if n := counted(t, c, Registration, outcomeFailed); n != 1 {
			t.Errorf("failures counted %v", n)
		}
	})
	t.Run("NameResolvingToLoopbackIsRefused", func(t *testing.T) {
		refused(t, caller(t), "http://localhost:"+port+"/hook")
	})
	t.Run("ExceptionURLReachesIt", func(t *testing.T) {
		c := caller(t, "http://127.0.0.1:*/allowed/*")
		if _, err := run(t, c, &WebHook{Name: "t", URL: tg.URL + "/allowed/signup", Method: "POST"}, testEvent()); err != nil {
			t.Fatalf("exception refused: %v", err)
		}
		refused(t, c, tg.URL+"/allowed/a/b")
		refused(t, c, tg.URL+"/other")
	})
	t.Run("RedirectToAnotherURLIsChecked", func(t *testing.T) {
		redirector := httptest.NewServer(http.RedirectHandler(tg.URL+"/secret", http.StatusFound))
		t.Cleanup(redirector.Close)
		rport := redirector.URL[strings.LastIndexByte(redirector.URL, ':')+1:]
		refused(t, caller(t, "http://127.0.0.1:"+rport+"/**"), redirector.URL+"/hook")
	})
	t.Run("OffCallsAnyAddress", func(t *testing.T) {
		c := testCaller(t, Limits{})
		c.client = NewEgress(false, nil).Client()
		if _, err := run(t, c, &WebHook{Name: "t", URL: tg.URL + "/hook", Method: "POST"}, testEvent()); err != nil {
			t.Fatal(err)
		}
	})
}
