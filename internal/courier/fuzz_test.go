package courier

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/mail"
	"strings"
	"testing"
)

// Override templates that put identity traits in every context a mail
// template may use them: subject, plaintext, HTML text, HTML attribute
// and URL.
const (
	fuzzSubject = `Hi {{ .Identity.traits.name | default "there" }}, code {{ .RecoveryCode }}`
	fuzzText    = "Hello {{ title (printf \"%v\" .Identity.traits.name) }} ({{ join \", \" .Identity.traits.tags }})\n{{ .RecoveryCode }}\n"
	fuzzHTML    = `<html><body><p title="{{ .Identity.traits.name }}">Hello {{ .Identity.traits.name }}</p>` +
		`<a href="https://example.test/u/{{ .Identity.traits.name }}">profile</a>` +
		`<p>{{ join ", " .Identity.traits.tags }}</p><b>{{ .RecoveryCode }}</b></body></html>`
)

func fuzzURI(s string) string { return "base64://" + base64.StdEncoding.EncodeToString([]byte(s)) }

// FuzzRenderTraits: whatever traits an identity has (they are user
// input), a mail renders or fails cleanly: the HTML body gains no markup
// from them (every <, >, " is escaped), and the built message carries no
// header the traits smuggled in through the subject. Never a panic.
func FuzzRenderTraits(f *testing.F) {
	tpl, err := NewTemplates(TemplatesConfig{Overrides: map[TemplateType]TemplateURIs{
		TemplateRecoveryCodeValid: {Subject: fuzzURI(fuzzSubject), BodyHTML: fuzzURI(fuzzHTML), BodyPlaintext: fuzzURI(fuzzText)},
	}})
	if err != nil {
		f.Fatal(err)
	}
	sender, err := NewSMTPSender(SMTPConfig{ConnectionURI: "smtp://127.0.0.1:2525/?disable_starttls=true", FromName: "Latchkey"})
	if err != nil {
		f.Fatal(err)
	}
	render := func(traits map[string]any) (Rendered, error) {
		return tpl.Render(TemplateRecoveryCodeValid, TemplateData{
			To: "ada@example.test", RecoveryCode: "628048", ExpiresInMinutes: 15,
			Identity: map[string]any{"id": "00000000-0000-4000-8000-000000000000", "traits": traits},
		})
	}
	baseline, err := render(map[string]any{"name": "Ada", "tags": []any{"x"}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{"name":"Ada","tags":["a","b"]}`,
		`{"name":"<script>alert(1)</script>","tags":["<b>","\"'&"]}`,
		`{"name":"\" onmouseover=\"alert(1)","tags":"javascript:alert(1)"}`,
		`{"name":"x\r\nBcc: victim@example.test","tags":[]}`,
		`{"name":"=?utf-8?q?=0D=0ABcc:_a@b.test?=","tags":null}`,
		`{"name":{"first":"<i>"},"tags":[{"a":"<"}]}`,
		`{"name":"Åda 🔑\u0000\u2028","tags":[1,2.5,true]}`,
		`{}`,
	} {
		f.Add([]byte(s), "ada@example.test")
	}
	f.Add([]byte(`{"name":"Ada"}`), "ada@example.test\r\nBcc: victim@example.test")
	f.Fuzz(func(t *testing.T, traitsJSON []byte, to string) {
		var traits map[string]any
		if err := json.Unmarshal(traitsJSON, &traits); err != nil {
			return
		}
		r, err := render(traits)
		if err != nil {
			return // a template error, reported at delivery
		}
		for _, c := range []string{"<", ">", `"`} {
			if got, want := strings.Count(r.HTML, c), strings.Count(baseline.HTML, c); got != want {
				t.Fatalf("traits %s put %d %q in the HTML body (template has %d):\n%s", traitsJSON, got, c, want, r.HTML)
			}
		}
		msg, err := sender.message(OutgoingEmail{To: to, Subject: r.Subject, Text: r.Text, HTML: r.HTML})
		if err != nil {
			return // an unusable recipient is refused
		}
		var buf bytes.Buffer
		if _, err := msg.WriteTo(&buf); err != nil {
			return
		}
		parsed, err := mail.ReadMessage(&buf)
		if err != nil {
			t.Fatalf("built message does not parse: %v\n%s", err, buf.String())
		}
		for key := range parsed.Header {
			switch strings.ToLower(key) {
			case "from", "to", "subject", "date", "message-id", "mime-version", "content-type", "content-transfer-encoding":
			default:
				t.Fatalf("traits %s / to %q added header %q:\n%s", traitsJSON, to, key, buf.String())
			}
		}
		if n := len(parsed.Header["Subject"]); n != 1 {
			t.Fatalf("%d Subject headers", n)
		}
		if addrs, err := parsed.Header.AddressList("To"); err == nil && len(addrs) != 1 {
			t.Fatalf("to %q became %d recipients", to, len(addrs))
		}
	})
}
