package flow

import (
	"html/template"
	"net/http"
)

// The confirm page of an emailed link (recovery, verification; departure
// 5). Opening a link only shows this page; its form posts the token back,
// and that POST spends it. Mail scanners that open links therefore burn
// nothing. The page is self-contained (no scripts, no external assets)
// and never leaks the token through a Referer header.
var confirmPage = template.Must(template.New("confirm").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem; color: #1f2328; line-height: 1.5; }
h1 { font-size: 1.4rem; }
button { font-size: 1rem; padding: .6rem 1.6rem; border: 0; border-radius: .4rem; background: #1f6feb; color: #fff; cursor: pointer; }
small { color: #59636e; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Messages}}<p>{{.Text}}</p>
{{end}}<form method="POST" action="{{.Action}}">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}{{range .Buttons}}<button type="submit" name="{{.Name}}" value="{{.Value}}">{{.Label}}</button>
{{end}}</form>
<p><small>{{.Note}}</small></p>
</body>
</html>
`))

// ConfirmLinkUI is the form of a link's confirm page: it posts token to
// action with the button label, so only a deliberate click spends it;
// msg explains it.
func ConfirmLinkUI(action, token string, button *Message, msg Message) Container {
	c := Container{Action: action, Method: "POST", Nodes: []Node{
		CSRFNode(""),
		Input(GroupLink, "token", "hidden", nil).WithValue(token).Required(),
		Input(GroupLink, "method", "submit", button).WithValue(GroupLink),
	}}
	c.AddMessage(msg)
	return c
}

type confirmField struct{ Name, Value, Label string }

// ConfirmPage is the text of a confirm page.
type ConfirmPage struct {
	// Name is the flow the link belongs to ("recovery", "verification"):
	// a ConfirmRenderer finds the page's texts in the reader's language by
	// it. Title and Note are the English ones of the self-contained page.
	Name string
	// Title heads the page ("Recover your account").
	Title string
	// Note tells someone who did not ask for the link what to do.
	Note string
}

// ConfirmRenderer draws a link's confirm page in the site's own layout and
// the reader's language (the built-in UI implements it). It must keep the
// token out of any Referer and allow no more than the page needs.
type ConfirmRenderer interface {
	RenderConfirm(w http.ResponseWriter, r *http.Request, page ConfirmPage, ui Container)
}

// Write renders the confirm form ui as a self-contained HTML page: the
// page when no ConfirmRenderer is set (no built-in UI).
func (p ConfirmPage) Write(w http.ResponseWriter, ui Container) {
	data := struct {
		Title, Note     string
		Action          string
		Messages        []Message
		Hidden, Buttons []confirmField
	}{Title: p.Title, Note: p.Note, Action: ui.Action, Messages: ui.Messages}
	for _, n := range ui.Nodes {
		v, _ := n.Attributes.Value.(string)
		field := confirmField{Name: n.Attributes.Name, Value: v}
		switch n.Attributes.Type {
		case "hidden":
			data.Hidden = append(data.Hidden, field)
		case "submit":
			if n.Meta.Label != nil {
				field.Label = n.Meta.Label.Text
			}
			data.Buttons = append(data.Buttons, field)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	_ = confirmPage.Execute(w, data)
}

// AnswerLink answers the GET of an emailed link (recovery, verification):
// err, or res when the link was used or refused at once (always as
// redirects: a link is opened by a browser, whatever its Accept header),
// or the confirm flow confirm — as JSON to an SPA, else as page.
func (p *Responder) AnswerLink(w http.ResponseWriter, r *http.Request, q *Request, page ConfirmPage, confirm View, res *Result, err error) {
	c := q.InitClient()
	switch {
	case err != nil:
		p.Fail(w, r, q, c, err)
	case confirm == nil:
		p.Answer(w, r, q, BrowserForm, res, nil)
	case c == SPA:
		p.WriteFlow(w, q, http.StatusOK, confirm)
	default:
		ui := &confirm.Common().UI
		ui.SetCSRF(p.CSRF.Mask(q.CSRF.Token()))
		p.CSRF.Write(w, q.CSRF)
		if p.Confirm != nil {
			p.Confirm.RenderConfirm(w, r, page, *ui)
			return
		}
		page.Write(w, *ui)
	}
}
