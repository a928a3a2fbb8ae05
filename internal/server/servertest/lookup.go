package servertest

import (
	"context"
	"testing"

	ory "github.com/ory/client-go"
)

// LookupEnabled turns backup codes on (selfservice.methods.lookup_secret).
const LookupEnabled = "SELFSERVICE_METHODS_LOOKUP_SECRET_ENABLED=true"

// BackupCodes returns the codes a flow's lookup_secret_codes node shows,
// in order ("" for a spent one), or nil when it has no such node.
func BackupCodes(nodes []ory.UiNode) []string {
	for _, n := range nodes {
		a := n.Attributes.UiNodeTextAttributes
		if a == nil || a.Id != "lookup_secret_codes" {
			continue
		}
		secrets, _ := a.Text.Context["secrets"].([]any)
		out := make([]string, len(secrets))
		for i, s := range secrets {
			m, _ := s.(map[string]any)
			ctx, _ := m["context"].(map[string]any)
			out[i], _ = ctx["secret"].(string)
		}
		return out
	}
	return nil
}

// MustBackupCodes enrols new backup codes for the identity of the session
// token through a native settings flow (regenerate, then confirm), as a
// user does, and returns them. The session must be privileged.
func (s *Server) MustBackupCodes(t testing.TB, token string) []string {
	t.Helper()
	ctx := context.Background()
	sdk := s.SDK(false)
	f, _, err := sdk.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(token).Execute()
	if err != nil {
		t.Fatalf("create settings flow: %v %s", err, ErrorText(err))
	}
	update := func(set func(b *ory.UpdateSettingsFlowWithLookupMethod)) *ory.SettingsFlow {
		b := ory.NewUpdateSettingsFlowWithLookupMethod("lookup_secret")
		set(b)
		got, _, err := sdk.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(token).
			UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithLookupMethodAsUpdateSettingsFlowBody(b)).Execute()
		if err != nil {
			t.Fatalf("settings lookup_secret: %v %s", err, ErrorText(err))
		}
		return got
	}
	shown := update(func(b *ory.UpdateSettingsFlowWithLookupMethod) { b.SetLookupSecretRegenerate(true) })
	codes := BackupCodes(shown.Ui.Nodes)
	if len(codes) != 12 {
		t.Fatalf("regenerate showed %d codes: %+v", len(codes), shown.Ui.Nodes)
	}
	if done := update(func(b *ory.UpdateSettingsFlowWithLookupMethod) { b.SetLookupSecretConfirm(true) }); done.State != "success" {
		t.Fatalf("confirm: state %v", done.State)
	}
	return codes
}
