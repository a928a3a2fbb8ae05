package server

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/courier"
)

// Every courier.templates entry reaches the courier under its own
// template type: a subject configured for each type through its
// environment variable (COURIER_TEMPLATES_RECOVERY_CODE_VALID_EMAIL_SUBJECT
// for recovery_code_valid) is the subject that type renders.
func TestTemplateOverridesReachTheirType(t *testing.T) {
	var env []string
	for _, tt := range courier.TemplateTypes {
		subject := base64.StdEncoding.EncodeToString([]byte("subject of " + string(tt)))
		env = append(env, "COURIER_TEMPLATES_"+strings.ToUpper(string(tt))+"_EMAIL_SUBJECT=base64://"+subject)
	}
	cfg, _, err := config.Load(config.LoadOptions{Dev: true, DataDir: t.TempDir(), Env: env})
	if err != nil {
		t.Fatal(err)
	}
	templates, err := courier.NewTemplates(courier.TemplatesConfig{Overrides: templateOverrides(cfg.Courier.Templates)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range courier.TemplateTypes {
		r, err := templates.Render(tt, courier.TemplateData{To: "a@example.com", Event: &courier.EventData{}})
		if err != nil {
			t.Fatal(err)
		}
		if want := "subject of " + string(tt); r.Subject != want {
			t.Errorf("%s renders subject %q, want %q", tt, r.Subject, want)
		}
	}
}
