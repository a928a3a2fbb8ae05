package identity

import (
	"context"
	"slices"

	"github.com/latchkey/latchkey/internal/audit"
)

// recordChange writes the audit events of an update of cur to next, in
// its transaction: address.changed when the recovery or verifiable
// addresses changed (with the email addresses before and after, so both
// can be told), password.changed when a new password was set. The actor
// is whoever made the request: an admin, or the user in a settings flow.
func (s *Service) recordChange(ctx context.Context, cur, next *Identity, passwordSet bool) error {
	if !sameAddresses(cur, next) {
		if err := s.Audit.Record(ctx, audit.Event{Type: audit.AddressChanged, IdentityID: &next.ID,
			Details: map[string]any{"previous": emailAddresses(cur), "current": emailAddresses(next)}}); err != nil {
			return err
		}
	}
	if passwordSet {
		return s.Audit.Record(ctx, audit.Event{Type: audit.PasswordChanged, IdentityID: &next.ID, Method: string(CredentialPassword)})
	}
	return nil
}

// sameAddresses reports whether a and b have the same recovery and the
// same verifiable addresses (by channel and value; verification status
// does not count).
func sameAddresses(a, b *Identity) bool {
	return slices.Equal(recoveryKeys(a), recoveryKeys(b)) && slices.Equal(verifiableKeys(a), verifiableKeys(b))
}

func recoveryKeys(i *Identity) []string {
	out := make([]string, 0, len(i.RecoveryAddresses))
	for _, a := range i.RecoveryAddresses {
		out = append(out, a.Via+":"+a.Value)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func verifiableKeys(i *Identity) []string {
	out := make([]string, 0, len(i.VerifiableAddresses))
	for _, a := range i.VerifiableAddresses {
		out = append(out, a.Via+":"+a.Value)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// emailAddresses are the identity's recovery and verifiable email
// addresses, sorted, each once.
func emailAddresses(i *Identity) []string {
	out := []string{}
	for _, a := range i.RecoveryAddresses {
		if a.Via == ViaEmail {
			out = append(out, a.Value)
		}
	}
	for _, a := range i.VerifiableAddresses {
		if a.Via == ViaEmail {
			out = append(out, a.Value)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
