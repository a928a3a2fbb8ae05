package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/courier/smtptest"
	"github.com/latchkey/latchkey/internal/i18n"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// replayer sends a transcript's requests to a live server and compares
// every answer with the recorded one. Values that differ per run (ids,
// tokens, codes, CSRF tokens, timestamps, host:port) are compared by kind;
// the first time a recorded value meets its live counterpart the pair is
// bound, later requests use the live value, and a recorded value that
// later meets a different live value is a difference (the same flow id
// must come back as the same flow id).
type replayer struct {
	srv  *servertest.Server
	http *http.Client
	vals bindings
	// jar is the cookie jar the recorder kept with curl: every response
	// fills it, requests marked "Cookie: (jar)" send it.
	jar []*http.Cookie
	// jarBefore is the jar before each step, to undo failed CSRF checks
	// the way the recorder did.
	jarBefore map[int][]*http.Cookie
	done      []*step
}

func newReplayer(srv *servertest.Server) *replayer {
	return &replayer{srv: srv, http: srv.HTTPClient(false), vals: bindings{fwd: map[string]string{}, rev: map[string]string{}}, jarBefore: map[int][]*http.Cookie{}}
}

// replay sends st's request and returns the differences from the recording.
func (r *replayer) replay(t *testing.T, st *step) []string {
	t.Helper()
	r.jarBefore[st.num] = slices.Clone(r.jar)
	r.done = append(r.done, st)
	var d diffs
	req := r.request(t, st.req, &d)
	res, err := r.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	r.compareResponse(&d, st.res, res, body)
	r.keepCookies(res)
	return d
}

// request builds the live request: recorded values replaced by live ones,
// curl's default headers where the recording shows none.
func (r *replayer) request(t *testing.T, rec recordedRequest, d *diffs) *http.Request {
	t.Helper()
	target := r.vals.substitute(rec.target)
	switch {
	case strings.HasPrefix(target, "PUB/"):
		target = r.srv.Public.URL + strings.TrimPrefix(target, "PUB")
	case strings.HasPrefix(target, "ADM/"):
		target = r.srv.Admin.URL + strings.TrimPrefix(target, "ADM")
	default:
		t.Fatalf("request target %q names neither PUB nor ADM", target)
	}
	body := rec.body
	if ct, _ := get(rec.header, "Content-Type"); ct == "application/x-www-form-urlencoded" {
		body = r.vals.substituteForm(body)
	} else {
		body = r.vals.substitute(body)
	}
	req, err := http.NewRequest(rec.method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("User-Agent", "curl/7.88.1")
	req.Header.Set("Accept", "*/*")
	for _, h := range rec.header {
		if h.name == "Cookie" {
			r.sendJar(req, h.value, d)
			continue
		}
		req.Header.Set(h.name, r.vals.substitute(h.value))
	}
	return req
}

// sendJar adds the jar's cookies; the recording lists the names its jar held.
func (r *replayer) sendJar(req *http.Request, recorded string, d *diffs) {
	want := strings.Split(strings.TrimSpace(strings.TrimPrefix(recorded, "(jar)")), ",")
	var have []string
	for _, c := range r.jar {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		have = append(have, c.Name)
	}
	for i := range want {
		want[i] = normalizeCookieName(strings.TrimSpace(want[i]))
	}
	for i := range have {
		have[i] = normalizeCookieName(have[i])
	}
	slices.Sort(want)
	slices.Sort(have)
	if !slices.Equal(want, have) {
		d.add("request cookies: the jar holds %v, the recorder's held %v", have, want)
	}
}

// keepCookies stores the response's cookies in the jar (curl -c).
func (r *replayer) keepCookies(res *http.Response) {
	for _, c := range res.Cookies() {
		r.jar = slices.DeleteFunc(r.jar, func(k *http.Cookie) bool { return k.Name == c.Name })
		if c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now())) {
			continue
		}
		r.jar = append(r.jar, c)
	}
}

// restoreJar undoes the cookies set by the failed CSRF checks just replayed
// (the recorder's "cookie jar restored"): back to the jar before the first
// of the consecutive failures.
func (r *replayer) restoreJar() {
	first := -1
	for i := len(r.done) - 1; i >= 0; i-- {
		res := r.done[i].res
		loc, _ := get(res.header, "Location")
		if res.status != http.StatusForbidden && !strings.Contains(loc, "/error?id=") {
			break
		}
		first = r.done[i].num
	}
	if first >= 0 {
		r.jar = slices.Clone(r.jarBefore[first])
	}
}

// checkEvents checks what the recording saw after st: mails and jar changes.
func (r *replayer) checkEvents(t *testing.T, st *step) []string {
	t.Helper()
	var d diffs
	for _, ev := range st.after {
		switch ev.kind {
		case eventMail:
			m := r.srv.SMTP.WaitFor(t, ev.to, 10*time.Second)
			r.compareMail(&d, ev.mail, m)
		case eventNoMail:
			time.Sleep(1500 * time.Millisecond)
			if n := r.srv.SMTP.CountTo(ev.to); n != 0 {
				d.add("mail: %d message(s) to %s, the recording had none", n, ev.to)
			}
		case eventFreshJar:
			r.jar = nil
		case eventRestoreJar:
			r.restoreJar()
		}
	}
	return d
}

func (r *replayer) compareResponse(d *diffs, want recordedResponse, res *http.Response, body []byte) {
	if res.StatusCode != want.status {
		d.add("status: got %d, want %d (body %s)", res.StatusCode, want.status, clip(string(body)))
	}
	r.compareHeaders(d, want.header, res.Header)
	switch want.bodyKind {
	case "empty":
		if len(body) != 0 {
			d.add("body: got %s, want an empty body", clip(string(body)))
		}
	case "text":
		r.compareString(d, "body", strings.TrimRight(want.body, "\n"), strings.TrimRight(string(body), "\n"))
	case "json":
		exp, err := decodeOrdered([]byte(want.body))
		if err != nil {
			d.add("recorded body is not JSON: %v", err)
			return
		}
		act, err := decodeOrdered(body)
		if err != nil {
			d.add("body: not JSON (%v): %s", err, clip(string(body)))
			return
		}
		r.compareJSON(d, "body", exp, act)
	}
}

// significantHeaders are compared both ways: a recorded one must be there
// with the same value, a live one the recording lacks is a difference.
var significantHeaders = []string{"Cache-Control", "Content-Type", "Location", "Vary", "X-Kratos-Authenticated-Identity-Id", "Retry-After"}

func (r *replayer) compareHeaders(d *diffs, want []headerLine, got http.Header) {
	var wantCookies []string
	for _, h := range want {
		if strings.EqualFold(h.name, "Set-Cookie") {
			wantCookies = append(wantCookies, h.value)
			continue
		}
		live, ok := got[http.CanonicalHeaderKey(h.name)]
		if !ok {
			d.add("header %s: missing, want %q", h.name, h.value)
			continue
		}
		r.compareString(d, "header "+h.name, h.value, strings.Join(live, ", "))
	}
	for _, name := range significantHeaders {
		if _, recorded := get(want, name); !recorded && got.Get(name) != "" {
			d.add("header %s: got %q, the recording has none", name, got.Get(name))
		}
	}
	r.compareSetCookies(d, wantCookies, got.Values("Set-Cookie"))
}

// compareSetCookies compares cookies by name and attributes; values are
// opaque, Max-Age may be a few seconds off.
func (r *replayer) compareSetCookies(d *diffs, want, got []string) {
	live := map[string]*http.Cookie{}
	var order []string
	for _, line := range got {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			d.add("Set-Cookie %q: %v", line, err)
			continue
		}
		name := normalizeCookieName(c.Name)
		live[name] = c
		order = append(order, name)
	}
	seen := map[string]bool{}
	for _, line := range want {
		w, err := http.ParseSetCookie(strings.Replace(line, "=…", "=x", 1))
		if err != nil {
			d.add("recorded Set-Cookie %q: %v", line, err)
			continue
		}
		name := normalizeCookieName(w.Name)
		seen[name] = true
		g, ok := live[name]
		if !ok {
			d.add("Set-Cookie %s: missing, want %q", name, line)
			continue
		}
		if g.Path != w.Path || g.Domain != w.Domain || g.HttpOnly != w.HttpOnly || g.Secure != w.Secure || g.SameSite != w.SameSite ||
			g.Expires.IsZero() != w.Expires.IsZero() || (g.MaxAge == 0) != (w.MaxAge == 0) || abs(g.MaxAge-w.MaxAge) > 5 || (g.Value == "") != (w.Value == "") {
			d.add("Set-Cookie %s: got %q, want %q", name, redactCookie(g), line)
		}
	}
	for _, name := range order {
		if !seen[name] {
			d.add("Set-Cookie %s: got %q, the recording sets no such cookie", name, redactCookie(live[name]))
		}
	}
}

func redactCookie(c *http.Cookie) string {
	k := *c
	if k.Value == "" {
		return k.String()
	}
	k.Value = "VALUE"
	return strings.Replace(k.String(), "=VALUE", "=…", 1)
}

var cookieHash = regexp.MustCompile(`^csrf_token_[0-9a-f]{64}$`)

// normalizeCookieName hides the hash in csrf_token_<sha256(base URL)>,
// which depends on the port.
func normalizeCookieName(name string) string {
	if cookieHash.MatchString(name) {
		return "csrf_token_<hash>"
	}
	return name
}

// compareMail compares the sender, recipient, subject, MIME type and both
// parts of a recorded mail with the live one.
func (r *replayer) compareMail(d *diffs, want recordedMail, got smtptest.Mail) {
	for _, h := range want.header {
		switch h.name {
		case "From", "To":
			w, err1 := mail.ParseAddress(h.value)
			g, err2 := mail.ParseAddress(got.Header.Get(h.name))
			if err1 != nil || err2 != nil || w.Name != g.Name || w.Address != g.Address {
				d.add("mail %s: got %q, want %q", h.name, got.Header.Get(h.name), h.value)
			}
		case "Subject":
			r.compareString(d, "mail Subject", h.value, got.Subject)
		case "Content-Type":
			w, _, _ := mime.ParseMediaType(h.value)
			g, _, _ := mime.ParseMediaType(got.Header.Get("Content-Type"))
			if w != g {
				d.add("mail Content-Type: got %q, want %q", g, w)
			}
		}
	}
	r.compareMailBody(d, "mail text", want.text, got.Text)
	r.compareMailBody(d, "mail HTML", html.UnescapeString(want.html), html.UnescapeString(got.HTML))
}

var (
	mailLink    = regexp.MustCompile(`https?://[^\s"<>]+`)
	mailCode    = regexp.MustCompile(`\b\d{6}\b`)
	mailExpires = regexp.MustCompile(`(\d+) minutes`)
)

// compareMailBody checks what a mail body must carry: Latchkey's wording
// is its own (identity-and-courier.md §4.4: "built-in body wording may be
// our own but must contain the code (or link) and the expiry in minutes"),
// so the body is compared by its links, codes and expiry, not word by word.
// The expiry is said the way a person would (issue 17: "60 minutes" is
// "1 hour"), so Kratos's minutes are compared as that duration.
func (r *replayer) compareMailBody(d *diffs, part, want, got string) {
	wantLinks, gotLinks := mailLink.FindAllString(want, -1), mailLink.FindAllString(got, -1)
	if len(wantLinks) > 0 && len(gotLinks) == 0 {
		d.add("%s: no link, want %s in %q", part, wantLinks[0], got)
	}
	for _, l := range gotLinks {
		if len(wantLinks) > 0 {
			r.compareString(d, part+" link", wantLinks[0], l)
		}
	}
	wantCodes, gotCodes := mailCode.FindAllString(want, -1), mailCode.FindAllString(got, -1)
	if len(wantCodes) > 0 && len(gotCodes) == 0 {
		d.add("%s: no code, want one like %s in %q", part, wantCodes[0], got)
	}
	for _, c := range gotCodes {
		if len(wantCodes) > 0 {
			r.compareString(d, part+" code", wantCodes[0], c)
		}
	}
	if m := mailExpires.FindStringSubmatch(want); m != nil {
		minutes, _ := strconv.Atoi(m[1])
		if exp := i18n.For(i18n.Default).Duration(time.Duration(minutes) * time.Minute); !strings.Contains(got, exp) {
			d.add("%s: does not say %q (%s): %q", part, exp, m[0], got)
		}
	}
}

// compareJSON compares an expected and a live JSON value (from
// decodeOrdered): same keys in the same order, same types, same values up
// to the per-run ones.
func (r *replayer) compareJSON(d *diffs, path string, exp, act any) {
	switch e := exp.(type) {
	case *jsonObject:
		a, ok := act.(*jsonObject)
		if !ok {
			d.add("%s: got %s, want %s", path, render(act), render(exp))
			return
		}
		a = withoutLatchkeyContext(e, a)
		var missing, extra []string
		for _, k := range e.keys {
			if _, ok := a.vals[k]; !ok {
				missing = append(missing, k)
			}
		}
		for _, k := range a.keys {
			if _, ok := e.vals[k]; !ok {
				extra = append(extra, k)
			}
		}
		if len(missing) > 0 {
			d.add("%s: missing keys %v (want %s)", path, missing, render(exp))
		}
		if len(extra) > 0 {
			d.add("%s: extra keys %v (got %s)", path, extra, render(act))
		}
		if len(missing) == 0 && len(extra) == 0 && !slices.Equal(e.keys, a.keys) {
			d.add("%s: key order %v, want %v", path, a.keys, e.keys)
		}
		for _, k := range e.keys {
			if av, ok := a.vals[k]; ok {
				r.compareJSON(d, path+"."+k, e.vals[k], av)
			}
		}
	case []any:
		a, ok := act.([]any)
		if !ok {
			d.add("%s: got %s, want %s", path, render(act), render(exp))
			return
		}
		if len(a) != len(e) {
			d.add("%s: %d elements, want %d: got %s, want %s", path, len(a), len(e), render(act), render(exp))
		}
		for i := range min(len(a), len(e)) {
			r.compareJSON(d, fmt.Sprintf("%s[%d%s]", path, i, nodeName(e[i])), e[i], a[i])
		}
	case string:
		a, ok := act.(string)
		if !ok {
			d.add("%s: got %s, want %s", path, render(act), render(exp))
			return
		}
		if strings.HasSuffix(path, ".ip_address") {
			// The client's port differs per run.
			e, a = portless(e), portless(a)
		}
		r.compareString(d, path, e, a)
	case json.Number:
		a, ok := act.(json.Number)
		if !ok {
			d.add("%s: got %s, want a number like %s", path, render(act), e)
			return
		}
		if strings.HasSuffix(path, "_unix") || strings.HasSuffix(path, ".since") {
			return // a point in time
		}
		if e != a {
			d.add("%s: got %s, want %s", path, a, e)
		}
	default: // bool, nil
		if render(exp) != render(act) {
			d.add("%s: got %s, want %s", path, render(act), render(exp))
		}
	}
}

// nodeName labels a UI node in paths: nodes[3 csrf_token].
func nodeName(v any) string {
	o, ok := v.(*jsonObject)
	if !ok {
		return ""
	}
	attrs, ok := o.vals["attributes"].(*jsonObject)
	if !ok {
		return ""
	}
	if name, ok := attrs.vals["name"].(string); ok {
		return " " + name
	}
	return ""
}

func portless(addr string) string {
	if i := strings.LastIndex(addr, ":"); i > 0 && !strings.Contains(addr[i:], "]") {
		return addr[:i] + ":<port>"
	}
	return addr
}

// compareString compares strings with the per-run values cut out: the
// text around them must match, and each value must be of the same kind
// and consistent with earlier bindings.
func (r *replayer) compareString(d *diffs, path, exp, act string) {
	exp = recordedBases.Replace(exp)
	act = r.liveBases().Replace(act)
	es, ev := splitVolatile(exp)
	as, av := splitVolatile(act)
	if es != as {
		d.add("%s: got %q, want %q", path, act, exp)
		return
	}
	for i := range ev {
		if msg := r.vals.bind(ev[i], av[i]); msg != "" {
			d.add("%s: %s", path, msg)
		}
	}
}

// recordedBases names the recording's listeners PUB and ADM, also where
// they appear query-escaped (a return_to inside a URL).
var recordedBases = basesReplacer("http://127.0.0.1:4433", "http://127.0.0.1:4434")

// liveBases names the live listeners PUB and ADM.
func (r *replayer) liveBases() *strings.Replacer {
	return basesReplacer(r.srv.Public.URL, r.srv.Admin.URL)
}

func basesReplacer(pub, adm string) *strings.Replacer {
	pairs := [][2]string{{pub, "PUB"}, {adm, "ADM"}, {url.QueryEscape(pub), "PUB"}, {url.QueryEscape(adm), "ADM"}}
	// The longer URL first, in case one port is a prefix of the other.
	slices.SortStableFunc(pairs, func(a, b [2]string) int { return len(b[0]) - len(a[0]) })
	var args []string
	for _, p := range pairs {
		args = append(args, p[0], p[1])
	}
	return strings.NewReplacer(args...)
}

// A volatile value is a part of a string that differs per run.
type volatile struct{ kind, text string }

// volatileRE finds per-run values; each alternative names its kind, the
// named group is the value (for link tokens only the part after token=).
var volatileRE = regexp.MustCompile(`(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})` +
	`|(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))` +
	`|(?P<short>ory_st_[A-Za-z0-9]+…)` +
	`|(?P<session>ory_st_[A-Za-z0-9]+)` +
	`|token=(?P<link>[A-Za-z0-9_-]+)` +
	`|csrf_token_(?P<hash>[0-9a-f]{64})` +
	`|(?P<csrf>[A-Za-z0-9+/]{40,}={0,2})` +
	`|\b(?P<code>\d{6})\b` +
	`|(?P<minutes>\d+\.\d\d) minutes`)

// splitVolatile returns s with every per-run value replaced by <kind>, and
// the values in order.
func splitVolatile(s string) (string, []volatile) {
	var b strings.Builder
	var vals []volatile
	last := 0
	for _, m := range volatileRE.FindAllStringSubmatchIndex(s, -1) {
		for g, name := range volatileRE.SubexpNames() {
			if name == "" || m[2*g] < 0 {
				continue
			}
			start, end := m[2*g], m[2*g+1]
			b.WriteString(s[last:start])
			b.WriteString("<" + name + ">")
			vals = append(vals, volatile{kind: name, text: s[start:end]})
			last = end
			break
		}
	}
	b.WriteString(s[last:])
	return b.String(), vals
}

// bindings map recorded per-run values to live ones.
type bindings struct {
	fwd map[string]string // recorded → live
	rev map[string]string // live → recorded
}

// bind records that the recorded value exp showed up live as act; it
// returns a difference when that contradicts an earlier binding.
func (b *bindings) bind(exp, act volatile) string {
	if exp.kind != act.kind {
		return fmt.Sprintf("got %s %q, want a %s", act.kind, act.text, exp.kind)
	}
	switch exp.kind {
	case "time", "hash", "minutes":
		return ""
	case "csrf":
		// Kratos repeats a flow's token, Latchkey masks it afresh on every
		// render; either is a valid token, so the latest one is used.
		b.fwd[exp.text] = act.text
		return ""
	}
	if live, ok := b.fwd[exp.text]; ok && live != act.text {
		return fmt.Sprintf("the recording's %s %s was %s before, now %s", exp.kind, exp.text, live, act.text)
	}
	if rec, ok := b.rev[act.text]; ok && rec != exp.text {
		return fmt.Sprintf("live %s %s already stood for the recording's %s, here the recording has %s", exp.kind, act.text, rec, exp.text)
	}
	b.fwd[exp.text], b.rev[act.text] = act.text, exp.text
	return ""
}

// substitute replaces the recorded values in s by their live counterparts.
// A shortened session token ("ory_st_QiHX…") is the bound token it starts
// with; one that was never bound (a made-up token) is padded to full length.
func (b *bindings) substitute(s string) string {
	var out strings.Builder
	last := 0
	for _, m := range volatileRE.FindAllStringSubmatchIndex(s, -1) {
		for g, name := range volatileRE.SubexpNames() {
			if name == "" || m[2*g] < 0 {
				continue
			}
			start, end := m[2*g], m[2*g+1]
			out.WriteString(s[last:start])
			v := s[start:end]
			switch {
			case name == "short":
				prefix := strings.TrimSuffix(v, "…")
				v = prefix + strings.Repeat("x", 39-len(prefix))
				for rec, live := range b.fwd {
					if strings.HasPrefix(rec, prefix) {
						v = live
					}
				}
			case b.fwd[v] != "":
				v = b.fwd[v]
			}
			out.WriteString(v)
			last = end
			break
		}
	}
	out.WriteString(s[last:])
	return out.String()
}

// substituteForm substitutes inside each value of a URL-encoded body.
func (b *bindings) substituteForm(body string) string {
	pairs := strings.Split(body, "&")
	for i, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		raw, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		if sub := b.substitute(raw); sub != raw {
			pairs[i] = k + "=" + url.QueryEscape(sub)
		}
	}
	return strings.Join(pairs, "&")
}

// jsonObject is a decoded JSON object that remembers its key order.
type jsonObject struct {
	keys []string
	vals map[string]any
}

// latchkeyContext are the message context keys Latchkey adds to Kratos's
// for its built-in UI (attempts_left on a wrong code): additive, so a
// recorded message without them still matches.
var latchkeyContext = map[string]bool{"attempts_left": true}

// withoutLatchkeyContext is act without the additions of latchkeyContext
// that exp lacks: the keys themselves in a context object, and a context
// that holds nothing else.
func withoutLatchkeyContext(exp, act *jsonObject) *jsonObject {
	out := &jsonObject{vals: act.vals}
	for _, k := range act.keys {
		_, expected := exp.vals[k]
		ctx, isObj := act.vals[k].(*jsonObject)
		switch {
		case expected:
		case latchkeyContext[k]:
			continue
		case k == "context" && isObj && !slices.ContainsFunc(ctx.keys, func(c string) bool { return !latchkeyContext[c] }):
			continue
		}
		out.keys = append(out.keys, k)
	}
	return out
}

// decodeOrdered decodes JSON keeping object key order; numbers stay json.Number.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := &jsonObject{vals: map[string]any{}}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, k.(string))
			o.vals[k.(string)] = v
		}
		_, err := dec.Token()
		return o, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	}
	return tok, nil
}

// render writes a decoded value back as compact JSON, clipped.
func render(v any) string {
	var b strings.Builder
	var write func(v any)
	write = func(v any) {
		switch v := v.(type) {
		case *jsonObject:
			b.WriteString("{")
			for i, k := range v.keys {
				if i > 0 {
					b.WriteString(",")
				}
				kj, _ := json.Marshal(k)
				b.Write(kj)
				b.WriteString(":")
				write(v.vals[k])
			}
			b.WriteString("}")
		case []any:
			b.WriteString("[")
			for i, e := range v {
				if i > 0 {
					b.WriteString(",")
				}
				write(e)
			}
			b.WriteString("]")
		default:
			j, _ := json.Marshal(v)
			b.Write(j)
		}
	}
	write(v)
	return clip(b.String())
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// diffs collects the differences of one step.
type diffs []string

func (d *diffs) add(format string, args ...any) { *d = append(*d, fmt.Sprintf(format, args...)) }
