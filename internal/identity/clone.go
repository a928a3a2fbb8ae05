package identity

import (
	"bytes"
	"slices"
	"time"
)

// Clone returns a deep copy of i: changing the copy (its traits, an
// address, a credential's identifiers) leaves i as it was.
func (i *Identity) Clone() *Identity {
	if i == nil {
		return nil
	}
	c := *i
	c.StateChangedAt = cloneTime(i.StateChangedAt)
	c.Traits = bytes.Clone(i.Traits)
	c.MetadataPublic = bytes.Clone(i.MetadataPublic)
	c.MetadataAdmin = bytes.Clone(i.MetadataAdmin)
	c.RecoveryAddresses = slices.Clone(i.RecoveryAddresses)
	c.VerifiableAddresses = slices.Clone(i.VerifiableAddresses)
	for n := range c.VerifiableAddresses {
		c.VerifiableAddresses[n].VerifiedAt = cloneTime(c.VerifiableAddresses[n].VerifiedAt)
	}
	if i.Credentials != nil {
		c.Credentials = make(map[CredentialType]Credential, len(i.Credentials))
		for t, cred := range i.Credentials {
			cred.Identifiers = slices.Clone(cred.Identifiers)
			cred.Config = bytes.Clone(cred.Config)
			c.Credentials[t] = cred
		}
	}
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}
