package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/i18n"
)

// texts prints what a flow page shows in the page's language: the flow's
// messages and labels by their numeric id (message.<id> in
// locales/*/messages.json), filled from the message's context. The API
// keeps Kratos's English texts; only the page is translated.
type texts struct {
	p   *i18n.Printer
	now time.Time
}

// countOf names the context value a counted message is counted by
// ("at least 1 character", "at least 8 characters").
var countOf = map[string]string{
	"4000003": "min_length",
	"4000017": "max_length",
	"4000023": "max_items",
	"4000024": "min_items",
	"4000032": "min_length",
	"4000033": "max_length",
}

// unfilled finds a placeholder a context did not fill.
var unfilled = regexp.MustCompile(`\{[a-z_]+\}`)

// message is m's text in the page's language, or the API's text when the
// UI has none for its id (a message of a newer server or of a webhook)
// or the context lacks a value the text needs. onNode says the message
// sits under its input, where "this field" can stand for the field's name.
func (tx texts) message(m messageJSON, onNode bool) string {
	id := m.ID.String()
	ctx := decodeContext(m.Context)
	key := tx.key(id, ctx, onNode)
	if key == "" {
		return m.Text
	}
	args := tx.args(ctx)
	var s string
	if name, ok := countOf[id]; ok && i18n.Counted(key) {
		n, ok := intOf(ctx[name])
		if !ok {
			return m.Text
		}
		s = tx.p.N(key, n, args...)
	} else {
		s = tx.p.T(key, args...)
	}
	if unfilled.MatchString(s) {
		return m.Text
	}
	if n, ok := intOf(ctx["attempts_left"]); ok {
		s += " " + tx.p.N("ui.attempts_left", n)
	}
	return s
}

// label is a node label's text ("" for none).
func (tx texts) label(m *messageJSON) string {
	if m == nil {
		return ""
	}
	return tx.message(*m, false)
}

// key is the catalog key of message id, its variant first when it has
// one: a trait label (1070002) by what the trait is, so the built-in
// schema's "E-Mail" reads "Email" like every other email label.
func (tx texts) key(id string, ctx map[string]any, onNode bool) string {
	var variant string
	switch {
	case id == "1070002":
		variant = traitVariant(ctx)
	case id == "4000002" && onNode:
		variant = "field"
	}
	if k := "message." + id + "." + variant; variant != "" && tx.p.Has(k) {
		return k
	}
	if k := "message." + id; tx.p.Has(k) {
		return k
	}
	return ""
}

// traitVariant names the kind of a schema-titled trait whose title the
// UI translates itself: an email address, whatever the schema calls it.
func traitVariant(ctx map[string]any) string {
	title, _ := ctx["title"].(string)
	switch strings.ToLower(strings.NewReplacer("-", "", " ", "", "_", "").Replace(title)) {
	case "email", "emailaddress":
		return "email"
	}
	return ""
}

// args are a context's values as name, value pairs, plus the durations
// and dates worked out from its times: {ago} since a flow expired,
// {within} before a privileged session ends, {wait} before a retry,
// {used_at} when a backup code was spent.
func (tx texts) args(ctx map[string]any) []any {
	vals := map[string]string{}
	for k, v := range ctx {
		switch v := v.(type) {
		case string:
			vals[k] = v
		case json.Number, bool:
			vals[k] = fmt.Sprint(v)
		}
	}
	if t, ok := timeOf(ctx["expired_at"]); ok {
		vals["ago"] = tx.p.Duration(tx.now.Sub(t))
	}
	if t, ok := timeOf(ctx["privileged_session_expires_at"]); ok {
		vals["within"] = tx.p.Duration(t.Sub(tx.now))
	}
	if s, ok := intOf(ctx["retry_after_seconds"]); ok {
		vals["wait"] = tx.p.Duration(time.Duration(s) * time.Second)
	}
	if t, ok := timeOf(ctx["used_at"]); ok {
		vals["used_at"] = tx.p.DateTime(t)
	}
	args := make([]any, 0, 2*len(vals))
	for k, v := range vals {
		args = append(args, k, v)
	}
	return args
}

func decodeContext(raw json.RawMessage) map[string]any {
	if len(raw) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var ctx map[string]any
	if d.Decode(&ctx) != nil {
		return nil
	}
	return ctx
}

func intOf(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return int(i), err == nil
}

func timeOf(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}
