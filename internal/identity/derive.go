package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// MaxAddressLength bounds credential identifiers and address values (the
// longest email address), the same on every database.
const MaxAddressLength = 320

// derive recomputes, from the traits and the schema's "ory.sh/kratos"
// extension, the password identifiers and the recovery and verifiable
// addresses of i. Addresses already stored (prevRecovery, prevVerifiable)
// keep their id, timestamps and verification status; imported verifiable
// addresses (admin create) lend their status to the address with the same
// value. An address value that is not a valid email for via "email" is a
// *ValidationError.
func derive(sch *Schema, i *Identity, prevRecovery []RecoveryAddress, prevVerifiable []VerifiableAddress, imported []VerifiableAddress, now time.Time) error {
	var traits map[string]any
	dec := json.NewDecoder(bytes.NewReader(i.Traits))
	dec.UseNumber()
	if err := dec.Decode(&traits); err != nil {
		return badRequest("traits must be a JSON object")
	}

	var (
		identifiers []string
		recovery    []RecoveryAddress
		verifiable  []VerifiableAddress
		fields      []FieldError
	)
	for _, p := range sch.Traits {
		if p.Extension.isZero() {
			continue
		}
		for _, v := range traitStrings(traits, p) {
			if strings.TrimSpace(v) == "" {
				continue
			}
			if n := len([]rune(strings.TrimSpace(v))); n > MaxAddressLength {
				fields = append(fields, tooLongField(p, n))
				continue
			}
			if p.Extension.PasswordIdentifier {
				if id := NormaliseIdentifier(v); !slices.Contains(identifiers, id) {
					identifiers = append(identifiers, id)
				}
			}
			for _, via := range []string{p.Extension.RecoveryVia, p.Extension.VerificationVia} {
				if via == ViaEmail && !validEmail(strings.TrimSpace(v)) {
					fields = append(fields, invalidEmailField(p, v))
				}
			}
			if via := p.Extension.RecoveryVia; via != "" {
				value := normaliseAddress(via, v)
				if !slices.ContainsFunc(recovery, func(a RecoveryAddress) bool { return a.Via == via && a.Value == value }) {
					recovery = append(recovery, recoveryAddress(via, value, prevRecovery, now))
				}
			}
			if via := p.Extension.VerificationVia; via != "" {
				value := normaliseAddress(via, v)
				if !slices.ContainsFunc(verifiable, func(a VerifiableAddress) bool { return a.Via == via && a.Value == value }) {
					verifiable = append(verifiable, verifiableAddress(via, value, prevVerifiable, imported, now))
				}
			}
		}
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: dedupeFields(fields)}
	}

	if i.Credentials == nil {
		i.Credentials = map[CredentialType]Credential{}
	}
	cred, has := i.Credentials[CredentialPassword]
	switch {
	case !has && len(identifiers) > 0:
		// An identifier trait makes a password credential (without a
		// password yet) so that the identifier is reserved and findable.
		i.Credentials[CredentialPassword] = Credential{
			ID: uuid.New(), Type: CredentialPassword, Identifiers: identifiers,
			Config: json.RawMessage("{}"), CreatedAt: now, UpdatedAt: now,
		}
	case has && len(identifiers) == 0 && !hasSecret(cred.Config):
		delete(i.Credentials, CredentialPassword)
	case has:
		if identifiers == nil {
			identifiers = []string{}
		}
		if !slices.Equal(cred.Identifiers, identifiers) {
			cred.Identifiers, cred.UpdatedAt = identifiers, now
		}
		cred.Type = CredentialPassword
		i.Credentials[CredentialPassword] = cred
	}
	i.RecoveryAddresses, i.VerifiableAddresses = recovery, verifiable
	return nil
}

// traitStrings returns the string values of a trait property: the value
// itself, or each element for an array whose items carry the extension.
func traitStrings(traits map[string]any, p TraitProperty) []string {
	var cur any = traits
	for _, seg := range strings.Split(p.Path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	switch v := cur.(type) {
	case string:
		return []string{v}
	case []any:
		if !p.Items {
			return nil
		}
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func recoveryAddress(via, value string, prev []RecoveryAddress, now time.Time) RecoveryAddress {
	for _, a := range prev {
		if a.Via == via && a.Value == value {
			return a
		}
	}
	return RecoveryAddress{ID: uuid.New(), Via: via, Value: value, CreatedAt: now, UpdatedAt: now}
}

func verifiableAddress(via, value string, prev, imported []VerifiableAddress, now time.Time) VerifiableAddress {
	for _, a := range prev {
		if a.Via == via && a.Value == value {
			return a
		}
	}
	a := VerifiableAddress{ID: uuid.New(), Via: via, Value: value, Status: VerifiableStatusPending, CreatedAt: now, UpdatedAt: now}
	for _, im := range imported {
		if im.Via != via || normaliseAddress(via, im.Value) != value {
			continue
		}
		a.Verified = im.Verified
		switch {
		case im.Status != "":
			a.Status = im.Status
		case im.Verified:
			a.Status = VerifiableStatusCompleted
		}
		if im.Verified {
			at := now
			if im.VerifiedAt != nil && !im.VerifiedAt.IsZero() {
				at = im.VerifiedAt.UTC().Truncate(time.Microsecond)
			}
			a.VerifiedAt = &at
		}
		break
	}
	return a
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

func invalidEmailField(p TraitProperty, v string) FieldError {
	ptr := "/traits" + pointer(strings.Split(p.Path, "."))
	schemaPtr := "/properties/traits" + pointer(interleave(strings.Split(p.Path, ".")))
	return FieldError{
		Field: p.Name(), MessageID: MsgIDInvalidEmail, Text: "Enter a valid email address",
		Context: map[string]any{"value": v},
		Reason:  fmt.Sprintf("I[#%s] S[#%s/format] %q is not valid %q", ptr, schemaPtr, v, "email"),
	}
}

func tooLongField(p TraitProperty, n int) FieldError {
	text := fmt.Sprintf("length must be <= %d, but got %d", MaxAddressLength, n)
	return FieldError{
		Field: p.Name(), MessageID: MsgIDMaxLength, Text: text,
		Context: map[string]any{"max_length": MaxAddressLength, "actual_length": n},
		Reason: fmt.Sprintf("I[#/traits%s] S[#/properties/traits%s/maxLength] %s",
			pointer(strings.Split(p.Path, ".")), pointer(interleave(strings.Split(p.Path, "."))), text),
	}
}

// interleave turns a.b into properties/a/properties/b.
func interleave(segs []string) []string {
	out := make([]string, 0, 2*len(segs))
	for _, s := range segs {
		out = append(out, "properties", s)
	}
	return out
}

func dedupeFields(fs []FieldError) []FieldError {
	var out []FieldError
	for _, f := range fs {
		if !slices.ContainsFunc(out, func(o FieldError) bool { return o.Reason == f.Reason }) {
			out = append(out, f)
		}
	}
	return out
}

// hasSecret reports whether a credential config holds more than {}.
func hasSecret(cfg json.RawMessage) bool {
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		return len(bytes.TrimSpace(cfg)) > 0
	}
	for _, v := range m {
		if v != nil && v != "" && v != false {
			return true
		}
	}
	return false
}

// setCredentialConfig replaces the config of one credential, creating the
// credential when missing.
func (i *Identity) setCredentialConfig(ct CredentialType, cfg json.RawMessage, now time.Time) {
	if i.Credentials == nil {
		i.Credentials = map[CredentialType]Credential{}
	}
	c, ok := i.Credentials[ct]
	if !ok {
		c = Credential{ID: uuid.New(), Type: ct, Identifiers: []string{}, CreatedAt: now}
	}
	c.Config, c.UpdatedAt = cfg, now
	i.Credentials[ct] = c
}
