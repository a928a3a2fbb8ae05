package flow_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/flow"
	"github.com/latchkey/latchkey/internal/httpx"
)

// testFlow is the smallest flow: a Base.
type testFlow struct{ flow.Base }

func TestRequestClient(t *testing.T) {
	csrf := flow.NewCSRF("http://127.0.0.1:4433/", "/", "", http.SameSiteLaxMode, false)
	for name, c := range map[string]struct {
		header, value string
		t             flow.Type
		want          flow.Client
	}{
		"APIFlowIsNativeWhateverItSends": {"Accept", "text/html", flow.TypeAPI, flow.Native},
		"JSONBodyIsSPA":                  {"Content-Type", "application/json", flow.TypeBrowser, flow.SPA},
		"AcceptJSONIsSPA":                {"Accept", "application/json", flow.TypeBrowser, flow.SPA},
		"HTMLFormIsBrowserForm":          {"Content-Type", "application/x-www-form-urlencoded", flow.TypeBrowser, flow.BrowserForm},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
			r.Header.Set(c.header, c.value)
			if got := csrf.ReadRequest(r).ClientFor(c.t); got != c.want {
				t.Fatalf("client %v, want %v", got, c.want)
			}
		})
	}
}

func TestReadRequestSeesBrowserSignals(t *testing.T) {
	csrf := flow.NewCSRF("http://127.0.0.1:4433/", "/", "", http.SameSiteLaxMode, false)
	r := httptest.NewRequest("POST", "http://id.example.com/self-service/login?flow=x", nil)
	if q := csrf.ReadRequest(r); q.BrowserSignals != nil || q.URL != "http://id.example.com/self-service/login?flow=x" || q.Caller.IP != "192.0.2.1" {
		t.Fatalf("plain request: %+v", q)
	}
	r.AddCookie(&http.Cookie{Name: "__cfduid", Value: "edge"}) // added by Cloudflare, not a page
	if q := csrf.ReadRequest(r); q.BrowserSignals != nil {
		t.Fatalf("Cloudflare cookie counted: %v", q.BrowserSignals)
	}
	r.Header.Set("Origin", "https://app.example.com")
	if q := csrf.ReadRequest(r); q.BrowserSignals == nil {
		t.Fatal("Origin header not seen")
	}
}

func TestResponderAnswers(t *testing.T) {
	csrf := flow.NewCSRF("http://127.0.0.1:4433/", "/", "", http.SameSiteLaxMode, false)
	p := &flow.Responder{CSRF: csrf}
	f := &testFlow{Base: flow.NewBase(flow.TypeBrowser, time.Now(), time.Hour, "http://x/", "", "http://x/self-service/login")}
	gone := httpx.ErrGone("gone")
	for name, c := range map[string]struct {
		client   flow.Client
		res      *flow.Result
		err      error
		status   int
		location string
	}{
		"ShowToBrowserFormRedirectsToUI": {flow.BrowserForm, &flow.Result{Outcome: flow.Show, Flow: f, Status: 400, UIURL: "http://ui/login?flow=1"}, nil, 303, "http://ui/login?flow=1"},
		"ShowToSPAWritesStatus":          {flow.SPA, &flow.Result{Outcome: flow.Show, Flow: f, Status: 400}, nil, 400, ""},
		"ReplacedWithErrToSPA":           {flow.SPA, &flow.Result{Outcome: flow.Replaced, Flow: f, Err: gone}, nil, 410, ""},
		"ReplacedWithoutErrFetches":      {flow.Native, &flow.Result{Outcome: flow.Replaced, Flow: f, FetchURL: "http://x/flows?id=2"}, nil, 303, "http://x/flows?id=2"},
		"DoneToBrowserFormRedirects":     {flow.BrowserForm, &flow.Result{Outcome: flow.Done, RedirectTo: "http://app/"}, nil, 303, "http://app/"},
		"DoneWithBody":                   {flow.Native, &flow.Result{Outcome: flow.Done, Body: map[string]string{"a": "b"}}, nil, 200, ""},
		"DoneWithErr":                    {flow.SPA, &flow.Result{Outcome: flow.Done, Err: flow.BrowserLocationChangeRequired("http://ui/settings")}, nil, 422, ""},
		"RedirectErrorToBrowserForm":     {flow.BrowserForm, nil, &flow.RedirectError{Err: gone, To: "http://home/", Code: 302}, 302, "http://home/"},
		"RedirectErrorToSPAIsJSON":       {flow.SPA, nil, flow.BrowserRedirect(gone, "http://home/"), 410, ""},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
			w := httptest.NewRecorder()
			p.Answer(w, r, csrf.ReadRequest(r), c.client, c.res, c.err)
			if w.Code != c.status || w.Header().Get("Location") != c.location {
				t.Fatalf("status %d location %q, want %d %q", w.Code, w.Header().Get("Location"), c.status, c.location)
			}
		})
	}

	t.Run("BrowserFlowGetsAMaskedTokenAndItsCookie", func(t *testing.T) {
		f.UI.Nodes = []flow.Node{flow.CSRFNode("")}
		r := httptest.NewRequest("GET", "/self-service/login/flows?id=x", nil)
		w := httptest.NewRecorder()
		p.WriteFlow(w, csrf.ReadRequest(r), 0, f)
		set := w.Result().Cookies()
		if len(set) != 1 {
			t.Fatalf("Set-Cookie %v", w.Header()["Set-Cookie"])
		}
		// The browser posts the rendered token back with the new cookie.
		post := httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
		post.AddCookie(set[0])
		st := csrf.State(post)
		st.Submitted = csrfValue(f)
		if err := st.Check(); err != nil {
			t.Fatalf("rendered token rejected: %v", err)
		}
	})
}

func csrfValue(f *testFlow) string {
	for _, n := range f.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			v, _ := n.Attributes.Value.(string)
			return v
		}
	}
	return ""
}
