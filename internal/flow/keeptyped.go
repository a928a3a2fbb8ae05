package flow

import (
	"net/url"
	"strings"
)

// KeepTyped fills the form of nf, the flow that takes over from the
// expired flow old, with what the person typed into old's form, so a form
// left open too long costs them only a click: the identifier, an email
// address and profile traits, never a password, code, token or secret
// (only inputs of a kind that is shown back are filled). Only from a
// browser form that proved it was old's own (its anti-CSRF token), so
// another site cannot pre-fill someone's form. It reports whether it
// filled anything.
func KeepTyped(q *Request, old *Base, nf *Container, typed url.Values) bool {
	if old.Type != TypeBrowser || q.ClientFor(old.Type) != BrowserForm || old.CheckOrigin(q, true) != nil {
		return false
	}
	filled := false
	for i := range nf.Nodes {
		a := &nf.Nodes[i].Attributes
		if (a.NodeType != "" && a.NodeType != "input") || !shownBack(a.Type) || !safeToKeep(a.Name) {
			continue
		}
		if v := strings.TrimSpace(typed.Get(a.Name)); v != "" && isEmptyValue(a.Value) {
			a.Value = v
			filled = true
		}
	}
	return filled
}

// safeToKeep names the inputs whose values may be carried into a new flow.
func safeToKeep(name string) bool {
	return name == "identifier" || name == "email" || strings.HasPrefix(name, "traits.")
}

// shownBack reports whether an input of this type shows its value (a
// password input does not, a hidden one is not typed).
func shownBack(inputType string) bool {
	switch inputType {
	case "text", "email", "tel", "url", "number", "date", "":
		return true
	}
	return false
}

func isEmptyValue(v any) bool {
	s, ok := v.(string)
	return v == nil || ok && s == ""
}
