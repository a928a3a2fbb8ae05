package settings_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// TestPasswordPolicy: every reason to refuse a new password is a 400
// with its Kratos message on the password node (or, for an identity
// without identifiers, on the flow); the password is never echoed and
// nothing is stored.
func TestPasswordPolicy(t *testing.T) {
	servertest.Each(t, options(), func(t *testing.T, srv *servertest.Server) {
		ctx := context.Background()
		ident := mustIdentity(t, srv, "policy-user@example.test")
		tok := mustSession(t, srv, ident.Id).Token
		c := srv.SDK(false)
		f, _, err := c.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(tok).Execute()
		if err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name, password string
			id             int64
			text           string
			context        map[string]any
		}{
			{"Missing", "", 4000002, "Property password is missing.", map[string]any{"property": "password"}},
			{"TooShort", "short", 4000032, "The password must be at least 8 characters long, but got 5.", map[string]any{"actual_length": float64(5), "min_length": float64(8)}},
			{"TooLong", strings.Repeat("Aa1!", 20), 4000033, "The password must be at most 72 characters long, but got 80.", map[string]any{"actual_length": float64(80), "max_length": float64(72)}},
			{"SimilarToIdentifier", "policy-user@example.test", 4000031, "The password can not be used because it is too similar to the identifier.", nil},
			{"Breached", "qwertyuiop", 4000034, "The password has been found in data breaches and must no longer be used.", nil},
			{"SameAsOld", oldPassword, 4000039, "The new password must be different from the old password.", nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, resp, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(tok).
					UpdateSettingsFlowBody(passwordBody(tc.password, "")).Execute()
				if resp == nil || resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status = %v, err %v", resp, err)
				}
				got := flowOf(t, err)
				_, msgs := node(t, got, "password", "password")
				if len(msgs) != 1 || msgs[0].Id != tc.id || msgs[0].Text != tc.text || msgs[0].Type != "error" {
					t.Fatalf("password node messages = %+v", msgs)
				}
				if tc.context != nil && mustJSON(msgs[0].Context) != mustJSON(tc.context) {
					t.Fatalf("context = %v, want %v", msgs[0].Context, tc.context)
				}
				if tc.id == 4000034 && msgs[0].Context["breaches"] == nil {
					t.Fatalf("4000034 without breaches count: %v", msgs[0].Context)
				}
				if len(got.Ui.Messages) != 0 || got.State != "show_form" {
					t.Fatalf("flow messages %v state %s", got.Ui.Messages, got.State)
				}
				if tc.password != "" && strings.Contains(body(err), tc.password) && tc.id != 4000031 {
					t.Fatal("the submitted password is echoed")
				}
				if a, _ := node(t, got, "password", "password"); a.Value != nil {
					t.Fatalf("password node has a value: %v", a.Value)
				}
			})
		}
		if !srv.PasswordIs(t, ident.Id, oldPassword) {
			t.Fatal("a refused password was stored")
		}

		t.Run("MessagesClearedOnNextSubmission", func(t *testing.T) {
			up, _, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.Id).XSessionToken(tok).
				UpdateSettingsFlowBody(passwordBody(newPassword, "")).Execute()
			if err != nil {
				t.Fatal(err)
			}
			_, msgs := node(t, up, "password", "password")
			wantIDs(t, "password node after success", msgs)
		})

		t.Run("NoIdentifiers", func(t *testing.T) {
			i := srv.MustCreateIdentityBody(t, ory.CreateIdentityBody{SchemaId: "no-identifier", Traits: map[string]any{"nickname": "nick"}})
			tk := mustSession(t, srv, i.Id).Token
			nf, _, err := c.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(tk).Execute()
			if err != nil {
				t.Fatal(err)
			}
			_, resp, err := c.FrontendAPI.UpdateSettingsFlow(ctx).Flow(nf.Id).XSessionToken(tk).
				UpdateSettingsFlowBody(passwordBody(newPassword, "")).Execute()
			if resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %v %v", resp, err)
			}
			got := flowOf(t, err)
			wantIDs(t, "flow", got.Ui.Messages, 4000009)
			if got.Ui.Messages[0].Text != "Could not find any login identifiers. Did you forget to set them? This could also be caused by a server misconfiguration." {
				t.Fatalf("text = %q", got.Ui.Messages[0].Text)
			}
		})
	})
}
