package webui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"strings"
)

// flowJSON is the part of any self-service flow the UI reads.
type flowJSON struct {
	ID string        `json:"id"`
	UI containerJSON `json:"ui"`
	// RequestedAAL is a login flow's "aal1" or "aal2" (the second step).
	RequestedAAL string `json:"requested_aal"`
}

// containerJSON is a flow's "ui": where the form posts and what it shows.
type containerJSON struct {
	Action   string        `json:"action"`
	Method   string        `json:"method"`
	Nodes    []nodeJSON    `json:"nodes"`
	Messages []messageJSON `json:"messages"`
}

// nodeJSON is one UI node of any kind (input, text, a, img, script).
type nodeJSON struct {
	Type       string         `json:"type"`
	Group      string         `json:"group"`
	Attributes attributesJSON `json:"attributes"`
	Messages   []messageJSON  `json:"messages"`
	Meta       struct {
		Label *messageJSON `json:"label"`
	} `json:"meta"`
}

// attributesJSON is the union of the attributes of every node type.
type attributesJSON struct {
	Name         string       `json:"name"`
	Type         string       `json:"type"`
	Value        any          `json:"value"`
	Required     bool         `json:"required"`
	Autocomplete string       `json:"autocomplete"`
	Pattern      string       `json:"pattern"`
	Disabled     bool         `json:"disabled"`
	MaxLength    int          `json:"maxlength"`
	ID           string       `json:"id"`
	Href         string       `json:"href"`
	Title        *messageJSON `json:"title"`
	Text         *messageJSON `json:"text"`
	Src          string       `json:"src"`
	Width        int          `json:"width"`
	Height       int          `json:"height"`
}

// messageJSON is a UI message (flow, node or label).
type messageJSON struct {
	ID   json.Number `json:"id"`
	Text string      `json:"text"`
	Type string      `json:"type"`
	// Context is kept raw: its shape depends on the message, and only the
	// backup-code list (1050015) is read from it.
	Context json.RawMessage `json:"context"`
}

// flowView is a flow's container laid out for the template: its flow
// messages, then one form per node group.
type flowView struct {
	Messages []messageView
	Forms    []formView
	// Note is a line under the forms (a link's confirm page says what to
	// do when the link was not asked for).
	Note string
}

// formView is one HTML form: the nodes of one group plus every node of the
// "default" group (the CSRF token and shared inputs such as the login
// identifier), so each form submits on its own.
type formView struct {
	// Group is the node group the form submits (totp, lookup_secret, ...).
	Group  string
	Legend string
	// Alternative: show the form folded under "Use a backup code instead"
	// (the second login step offers an authenticator app first).
	Alternative bool
	// Open unfolds an Alternative form (its last submission failed).
	Open   bool
	Action string
	Method string
	Fields []fieldView
}

// fieldView is one node ready to render. Kind selects the markup: hidden,
// input, checkbox, submit, text, link or image.
type fieldView struct {
	Kind string
	ID   string
	// NodeID is the node's own id attribute (totp_qr, totp_secret_key,
	// lookup_secret_codes), exposed as data-node-id.
	NodeID       string
	Name         string
	Type         string
	Value        string
	Checked      bool
	Required     bool
	Disabled     bool
	Pattern      string
	Autocomplete string
	MaxLength    int
	// Numeric asks phones for a digit keyboard (codes).
	Numeric  bool
	Label    string
	Messages []messageView
	// NoValidate is set on a submit button that carries its own payload
	// (e.g. "Resend code" = email=<address>): it must work while the
	// form's other required inputs are empty.
	NoValidate bool
	Href       string
	Src        template.URL
	Width      int
	Height     int
	// Codes are the backup codes of a "codes" field, in order.
	Codes []codeView
	// Download is a data: URL of the unused codes as a text file, one
	// per line, so saving them needs no JavaScript.
	Download template.URL
}

// codeView is one backup code; a used one shows when it was used instead.
type codeView struct {
	Code string
	Used bool
	Text string
}

// HasError reports whether one of the field's messages is an error.
func (f fieldView) HasError() bool {
	for _, m := range f.Messages {
		if m.Error() {
			return true
		}
	}
	return false
}

// messageView is a message with its type normalised to info, error or success.
type messageView struct {
	ID   string
	Text string
	Type string
}

// Error reports whether the message is an error (shown with role=alert).
func (m messageView) Error() bool { return m.Type == "error" }

// shared reports whether the node belongs in every form: the default
// group's, and the hidden identifier an identifier-first login keeps on
// its second screen (group identifier_first), which the password form
// must submit.
func (n nodeJSON) shared() bool {
	return n.Group == "default" || n.Group == "" || (n.Group == "identifier_first" && n.Attributes.Type == "hidden")
}

// buildFlowView lays out any ui container, its texts in tx's language.
func buildFlowView(c containerJSON, tx texts) *flowView {
	v := &flowView{Messages: tx.messageViews(c.Messages, false)}
	var groups []string
	seen := map[string]bool{}
	for _, n := range c.Nodes {
		if n.shared() || seen[n.Group] {
			continue
		}
		seen[n.Group] = true
		groups = append(groups, n.Group)
	}
	if len(groups) == 0 {
		groups = []string{"default"}
	}
	for i, g := range groups {
		f := formView{Group: g, Action: c.Action, Method: formMethod(c.Method), Legend: tx.groupLegend(g)}
		own := 0
		for j, n := range c.Nodes {
			isDefault := n.shared()
			if n.Group != g && !isDefault {
				continue
			}
			// A provider button signs in by itself: of the shared nodes its
			// form takes only the hidden ones (csrf_token), not the
			// identifier it would otherwise require.
			if g == "oidc" && isDefault && n.Attributes.Type != "hidden" {
				continue
			}
			fv, ok := buildField(n, fmt.Sprintf("f%d-n%d", i, j), tx)
			if !ok {
				continue
			}
			f.Fields = append(f.Fields, fv)
			if !isDefault || g == "default" {
				own++
			}
		}
		// A group whose every node is dropped (e.g. script-only) gets no form.
		if own > 0 {
			v.Forms = append(v.Forms, f)
		}
	}
	// One form needs no legend: the page heading says what it is for. The
	// "Back" form of a two-step registration (screen=previous) does not
	// count: it is a button, not a way to sign up.
	main := 0
	for i := range v.Forms {
		if v.Forms[i].isBack() {
			v.Forms[i].Legend = ""
			continue
		}
		main++
	}
	if main == 1 {
		for i := range v.Forms {
			v.Forms[i].Legend = ""
		}
	}
	return v
}

// isBack reports whether the form's only button goes to the previous
// screen of a two-step registration (the profile group's screen=previous).
func (f formView) isBack() bool {
	if f.Group != "profile" {
		return false
	}
	back := false
	for _, fv := range f.Fields {
		switch {
		case fv.Kind == "hidden":
		case fv.Kind == "submit" && fv.Name == "screen":
			back = true
		default:
			return false
		}
	}
	return back
}

// Offers reports whether the flow has a form for the node group.
func (v *flowView) Offers(group string) bool {
	for _, f := range v.Forms {
		if f.Group == group {
			return true
		}
	}
	return false
}

// ShowsCodes reports whether the flow shows backup codes (the page then
// loads the script behind their Copy button).
func (v *flowView) ShowsCodes() bool {
	for _, f := range v.Forms {
		for _, fv := range f.Fields {
			if fv.Kind == "codes" {
				return true
			}
		}
	}
	return false
}

// foldBackupCodes makes the backup-code form of a second login step an
// alternative to the authenticator app's, unfolded when it carries an
// error (the person was using it).
func (v *flowView) foldBackupCodes() {
	if !v.Offers("totp") {
		return
	}
	for i := range v.Forms {
		f := &v.Forms[i]
		if f.Group != "lookup_secret" {
			continue
		}
		f.Alternative = true
		for _, fv := range f.Fields {
			f.Open = f.Open || (fv.HasError() && fv.Kind != "hidden")
		}
	}
}

// groupLegend names a node group (ui.group.<name>); a group the UI does
// not know is shown with its name capitalised.
func (tx texts) groupLegend(g string) string {
	if k := "ui.group." + g; tx.p.Has(k) {
		return tx.p.T(k)
	}
	s := strings.ReplaceAll(g, "_", " ")
	if s == "" {
		return ""
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// formMethod is the container's method as HTML knows it (GET or POST).
func formMethod(m string) string {
	if strings.EqualFold(m, "get") {
		return "get"
	}
	return "post"
}

// buildField turns a node into a field; script and unknown nodes are
// dropped (the pages run no JavaScript).
func buildField(n nodeJSON, id string, tx texts) (fieldView, bool) {
	a := n.Attributes
	f := fieldView{ID: id, Messages: tx.messageViews(n.Messages, true), Label: tx.label(n.Meta.Label)}
	switch n.Type {
	case "input", "":
	case "text":
		f.Kind, f.NodeID = "text", a.ID
		if a.Text != nil {
			f.Value = tx.message(*a.Text, false)
		}
		if codes := backupCodes(a.Text, tx); codes != nil {
			f.Kind, f.Codes, f.Download = "codes", codes, codesFile(codes)
		}
		return f, true
	case "a":
		f.Kind, f.Href = "link", a.Href
		if a.Title != nil {
			f.Label = tx.message(*a.Title, false)
		}
		return f, true
	case "img":
		// html/template refuses data: URLs; an image one is harmless in <img>
		// (a TOTP QR code comes that way).
		if !strings.HasPrefix(a.Src, "data:image/") && !strings.HasPrefix(a.Src, "https://") && !strings.HasPrefix(a.Src, "http://") {
			return f, false
		}
		f.Kind, f.NodeID, f.Src, f.Width, f.Height = "image", a.ID, template.URL(a.Src), a.Width, a.Height
		return f, true
	default:
		return f, false
	}
	f.Name, f.Type, f.Value = a.Name, strings.ToLower(a.Type), valueString(a.Value)
	f.Required, f.Disabled = a.Required, a.Disabled
	f.Pattern, f.Autocomplete, f.MaxLength = a.Pattern, a.Autocomplete, a.MaxLength
	f.Numeric = f.Pattern == "[0-9]+"
	if f.Name == "totp_code" {
		// Kratos's node has no hints; a one-time code is what it takes.
		f.Numeric = true
		if f.Autocomplete == "" {
			f.Autocomplete = "one-time-code"
		}
	}
	switch f.Type {
	case "hidden":
		f.Kind = "hidden"
	case "submit", "button":
		f.Kind = "submit"
		if f.Label == "" {
			f.Label = f.Value
		}
		f.NoValidate = f.Name != "method"
	case "checkbox":
		f.Kind = "checkbox"
		f.Checked = a.Value == true
		f.Value = "true"
	case "password":
		// Never put a password back into a page.
		f.Kind, f.Value = "input", ""
	default:
		f.Kind = "input"
		if f.Type == "" {
			f.Type = "text"
		}
		if f.Value == "" {
			f.Value = rejectedValue(n.Messages)
		}
	}
	return f, true
}

// rejectedValue is the value a node's error message says was refused
// (4000040 "Enter a valid email address" carries it in context.value):
// the API leaves the input empty, as Kratos does, but the person should
// correct what they typed rather than type it again.
func rejectedValue(ms []messageJSON) string {
	for _, m := range ms {
		if v, ok := decodeContext(m.Context)["value"].(string); ok && m.Type == "error" {
			return v
		}
	}
	return ""
}

// valueString renders an attribute value as the form would send it.
func valueString(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		if t {
			return "true"
		}
		return "false"
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}

func (tx texts) messageViews(ms []messageJSON, onNode bool) []messageView {
	out := make([]messageView, 0, len(ms))
	for _, m := range ms {
		t := m.Type
		if t != "error" && t != "success" {
			t = "info"
		}
		out = append(out, messageView{ID: m.ID.String(), Text: tx.message(m, onNode), Type: t})
	}
	return out
}

// Message ids of the backup-code list and its entries (Kratos's
// InfoSelfServiceSettingsLookupSecretList, ...LookupSecret).
const (
	msgBackupCodeList = "1050015"
	msgBackupCode     = "1050009"
)

// backupCodes reads the codes out of a backup-code list text (1050015):
// its context.secrets holds one message per code, 1050009 with the code
// when unused, another (1050014 "Secret was used at …") when used. Nil
// when the text is not such a list.
func backupCodes(m *messageJSON, tx texts) []codeView {
	if m == nil || m.ID.String() != msgBackupCodeList || len(m.Context) == 0 {
		return nil
	}
	var ctx struct {
		Secrets []messageJSON `json:"secrets"`
	}
	if json.Unmarshal(m.Context, &ctx) != nil || len(ctx.Secrets) == 0 {
		return nil
	}
	codes := make([]codeView, 0, len(ctx.Secrets))
	for _, s := range ctx.Secrets {
		if s.ID.String() == msgBackupCode {
			codes = append(codes, codeView{Code: s.Text})
		} else {
			codes = append(codes, codeView{Used: true, Text: tx.message(s, false)})
		}
	}
	return codes
}

// codesFile is a data: URL of the unused codes, one per line.
func codesFile(codes []codeView) template.URL {
	var b strings.Builder
	for _, c := range codes {
		if !c.Used {
			b.WriteString(c.Code + "\n")
		}
	}
	// The codes are [a-z0-9] from our own API, but escape anyway: the URL
	// is trusted by html/template as it stands.
	return template.URL("data:text/plain;charset=utf-8," + url.PathEscape(b.String()))
}

// Unused is how many codes of a codes field are unused (what Copy copies).
func (f fieldView) Unused() int {
	n := 0
	for _, c := range f.Codes {
		if !c.Used {
			n++
		}
	}
	return n
}

// AsksPassword reports whether the flow has a password input (the page
// then loads the script behind its show-password button).
func (v *flowView) AsksPassword() bool {
	for _, f := range v.Forms {
		for _, fv := range f.Fields {
			if fv.Kind == "input" && fv.Type == "password" {
				return true
			}
		}
	}
	return false
}
