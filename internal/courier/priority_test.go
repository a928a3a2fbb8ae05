package courier_test

import (
	"testing"

	"github.com/latchkey/latchkey/internal/courier"
)

func TestPriorityOf(t *testing.T) {
	for _, c := range []struct {
		tt   courier.TemplateType
		want courier.Priority
	}{
		// Someone waits for these right now.
		{courier.TemplateRecoveryCodeValid, courier.PriorityInteractive},
		{courier.TemplateRecoveryCodeInvalid, courier.PriorityInteractive},
		{courier.TemplateRecoveryValid, courier.PriorityInteractive},
		{courier.TemplateRecoveryInvalid, courier.PriorityInteractive},
		{courier.TemplateVerificationCodeValid, courier.PriorityInteractive},
		{courier.TemplateVerificationCodeInvalid, courier.PriorityInteractive},
		{courier.TemplateVerificationValid, courier.PriorityInteractive},
		{courier.TemplateVerificationInvalid, courier.PriorityInteractive},
		{"login_code_valid", courier.PriorityInteractive},
		{"registration_code_valid", courier.PriorityInteractive},
		// Internal messages become a code or link mail (prepare.go).
		{courier.TemplateRecoveryRequest, courier.PriorityInteractive},
		{courier.TemplateVerificationRequest, courier.PriorityInteractive},
		// Notifications.
		{courier.TemplateSecurityPasswordChanged, courier.PriorityBulk},
		{courier.TemplateSecurityAccountRecovered, courier.PriorityBulk},
		{courier.TemplateSecurityAdminRecovery, courier.PriorityBulk},
		{courier.TemplateSecuritySecondFactorAdded, courier.PriorityBulk},
		{courier.TemplateSecuritySecondFactorRemoved, courier.PriorityBulk},
		{courier.TemplateSecurityAddressChanged, courier.PriorityBulk},
		{courier.TemplateSecuritySocialLinked, courier.PriorityBulk},
		{courier.TemplateSecurityLockdownConfirmed, courier.PriorityBulk},
	} {
		if got := courier.PriorityOf(c.tt); got != c.want {
			t.Errorf("PriorityOf(%s) = %d, want %d", c.tt, got, c.want)
		}
	}
}
