package kratosimport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/lookup"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/sqlstore"
	"github.com/latchkey/latchkey/internal/totp"
)

// Problem is a row that could not be imported as it is, and why. An
// identity with a problem on one of its rows is still imported when the
// rest of it can be (the row is left out); Skipped says whether the whole
// identity was left out.
type Problem struct {
	IdentityID string
	// Row names the row: "identity", "credential password",
	// "session <id>", …
	Row     string
	Reason  string
	Skipped bool
}

func (p Problem) String() string {
	what := "row left out"
	if p.Skipped {
		what = "identity not imported"
	}
	return fmt.Sprintf("identity %s, %s: %s (%s)", p.IdentityID, p.Row, p.Reason, what)
}

// TraitsValidator checks traits against a configured identity schema
// (identity.Service.ValidateTraits).
type TraitsValidator interface {
	ValidateTraits(schemaID string, traits json.RawMessage) []identity.FieldError
}

// converter turns Kratos rows into Latchkey's types.
type converter struct {
	schemas TraitsValidator
	sealer  identity.Sealer
	now     time.Time
}

// converted is one Kratos identity in Latchkey's types.
type converted struct {
	identity *identity.Identity // nil: not importable (see problems)
	sessions []importedSession
	problems []Problem
	// sessions left out, by reason, for the report
	revoked, expired, tokenless int
	// lastChange is the latest updated_at of the identity and its
	// credentials in Kratos.
	lastChange time.Time
}

type importedSession struct {
	session *session.Session
	token   string
}

func (c *converter) convert(r *Record) converted {
	var out converted
	row := r.Identity
	problem := func(rowName, reason string, skipped bool) {
		out.problems = append(out.problems, Problem{IdentityID: row.ID, Row: rowName, Reason: reason, Skipped: skipped})
	}
	id, err := uuid.Parse(row.ID)
	if err != nil {
		problem("identity", "the id is not a UUID", true)
		return out
	}
	state := identity.State(row.State)
	if state != identity.StateActive && state != identity.StateInactive {
		problem("identity", fmt.Sprintf("unknown state %q", row.State), true)
		return out
	}
	traits, err := compactJSON(row.Traits)
	if err != nil {
		problem("identity", "traits are not JSON: "+err.Error(), true)
		return out
	}
	if errs := c.schemas.ValidateTraits(row.SchemaID, traits); len(errs) > 0 {
		var reasons []string
		for _, e := range errs {
			reasons = append(reasons, e.Field+": "+e.Text)
		}
		problem("identity", fmt.Sprintf("traits do not match identity schema %q: %s", row.SchemaID, strings.Join(reasons, "; ")), true)
		return out
	}
	created := row.CreatedAt.orElse(c.now)
	i := &identity.Identity{
		ID: id, SchemaID: row.SchemaID, State: state, StateChangedAt: row.StateChangedAt.ptr(),
		ExternalID: row.ExternalID.s, Traits: traits,
		MetadataPublic: rawJSON(row.MetadataPublic), MetadataAdmin: rawJSON(row.MetadataAdmin),
		CreatedAt: created, UpdatedAt: row.UpdatedAt.orElse(created),
		Credentials: map[identity.CredentialType]identity.Credential{},
	}
	out.lastChange = i.UpdatedAt
	for _, cr := range r.Credentials {
		cred, keep, reason := c.credential(id, cr, created)
		if reason != "" {
			problem("credential "+cr.Type, reason, false)
		}
		if !keep {
			continue
		}
		if prev, dup := i.Credentials[cred.Type]; dup {
			// Kratos keeps one credential per type; should a database hold
			// two, the newer one is the one Kratos was using.
			problem("credential "+cr.Type, "a second "+cr.Type+" credential; the newer one is kept", false)
			if prev.UpdatedAt.After(cred.UpdatedAt) {
				continue
			}
		}
		i.Credentials[cred.Type] = cred
		if cred.UpdatedAt.After(out.lastChange) {
			out.lastChange = cred.UpdatedAt
		}
	}
	for _, a := range r.Verifiable {
		aid, err := uuid.Parse(a.ID)
		if err != nil {
			problem("verifiable address "+a.Value, "the id is not a UUID", false)
			continue
		}
		ac := a.CreatedAt.orElse(created)
		i.VerifiableAddresses = append(i.VerifiableAddresses, identity.VerifiableAddress{
			ID: aid, Value: a.Value, Via: a.Via, Verified: bool(a.Verified), Status: a.Status,
			VerifiedAt: a.VerifiedAt.ptr(), CreatedAt: ac, UpdatedAt: a.UpdatedAt.orElse(ac),
		})
	}
	for _, a := range r.Recovery {
		aid, err := uuid.Parse(a.ID)
		if err != nil {
			problem("recovery address "+a.Value, "the id is not a UUID", false)
			continue
		}
		ac := a.CreatedAt.orElse(created)
		i.RecoveryAddresses = append(i.RecoveryAddresses, identity.RecoveryAddress{
			ID: aid, Value: a.Value, Via: a.Via, CreatedAt: ac, UpdatedAt: a.UpdatedAt.orElse(ac),
		})
	}
	out.identity = i
	for _, sr := range r.Sessions {
		c.session(&out, id, sr, problem)
	}
	return out
}

// credential converts one credential row. reason says what could not be
// kept: the whole row (keep is false), or, for a password whose hash
// cannot be verified, the hash (the credential stays, with its
// identifiers, so the account keeps its sign-in name).
func (c *converter) credential(identityID uuid.UUID, cr credentialRow, fallback time.Time) (cred identity.Credential, keep bool, reason string) {
	credID, err := uuid.Parse(cr.ID)
	if err != nil {
		return cred, false, "the id is not a UUID"
	}
	created := cr.CreatedAt.orElse(fallback)
	cred = identity.Credential{
		ID: credID, Type: identity.CredentialType(cr.Type), Identifiers: cr.Identifiers,
		Version: cr.Version, CreatedAt: created, UpdatedAt: cr.UpdatedAt.orElse(created),
	}
	if cred.Identifiers == nil {
		cred.Identifiers = []string{}
	}
	fail := func(reason string) (identity.Credential, bool, string) { return identity.Credential{}, false, reason }
	switch cred.Type {
	case identity.CredentialPassword:
		if cred.Config, reason = passwordConfig(cr.Config); reason != "" {
			cred.Config = json.RawMessage("{}")
		}
	case identity.CredentialTOTP:
		var cfg struct {
			TOTPURL string `json:"totp_url"`
		}
		if err := json.Unmarshal(cr.Config, &cfg); err != nil || cfg.TOTPURL == "" {
			return fail("the totp config has no totp_url")
		}
		if _, err := totp.Parse(cfg.TOTPURL); err != nil {
			return fail("the totp_url cannot be read: " + err.Error())
		}
		if cred.Config, err = identity.SealConfig(c.sealer, identityID, cred.Type, cr.Config, nil); err != nil {
			return fail("sealing: " + err.Error())
		}
	case identity.CredentialLookupSecret:
		var set lookup.Set
		if err := json.Unmarshal(cr.Config, &set); err != nil || len(set.RecoveryCodes) == 0 {
			return fail("the lookup_secret config has no recovery_codes")
		}
		if cred.Config, err = identity.SealConfig(c.sealer, identityID, cred.Type, cr.Config, nil); err != nil {
			return fail("sealing: " + err.Error())
		}
	case identity.CredentialOIDC:
		if cred.Config, reason = oidcConfig(cr.Config); reason != "" {
			return fail(reason)
		}
	case identity.CredentialWebAuthn, identity.CredentialPasskey, identity.CredentialSAML, identity.CredentialCode:
		// Public keys and subjects, nothing secret: kept as Kratos stored
		// them for the methods still to come.
		if cred.Config, err = compactJSON(cr.Config); err != nil {
			return fail("the config is not JSON")
		}
	default:
		return fail(fmt.Sprintf("unknown credential type %q", cr.Type))
	}
	return cred, true, reason
}

// passwordConfig keeps a Kratos password config whose hash Latchkey can
// verify; "{}" (an identity with identifiers but no password yet) stays.
func passwordConfig(raw []byte) (json.RawMessage, string) {
	var cfg struct {
		HashedPassword           string `json:"hashed_password"`
		UsePasswordMigrationHook bool   `json:"use_password_migration_hook"`
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, "the password config is not JSON"
		}
	}
	switch {
	case cfg.HashedPassword != "" && !password.IsKnownFormat(cfg.HashedPassword):
		return nil, "the password hash is in a format Latchkey cannot verify (" + hashPrefix(cfg.HashedPassword) + "…); the user signs in after a recovery"
	case cfg.HashedPassword != "":
		out, err := json.Marshal(identity.PasswordConfig{HashedPassword: cfg.HashedPassword})
		if err != nil {
			return nil, err.Error()
		}
		return out, ""
	case cfg.UsePasswordMigrationHook:
		return nil, "the password is still checked by Kratos's password migration hook, which Latchkey does not run; the user signs in after a recovery"
	}
	return json.RawMessage("{}"), ""
}

// hashPrefix names a hash's scheme without showing any of the hash.
func hashPrefix(h string) string {
	if h == "" || (h[0] != '$' && h[0] != '{') {
		return "unrecognised"
	}
	// "$scheme$" or "{SCHEME}": up to and including the closing mark.
	if i := strings.IndexAny(h[1:], "$}"); i > 0 {
		return h[:i+2]
	}
	return "unrecognised"
}

// oidcConfig keeps the provider links (provider, subject, organization)
// and drops the initial provider tokens: Kratos sealed them with its own
// secrets.cipher and nothing in Latchkey reads them.
func oidcConfig(raw []byte) (json.RawMessage, string) {
	var cfg struct {
		Providers []map[string]any `json:"providers"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, "the oidc config is not JSON"
	}
	type link struct {
		Subject      string `json:"subject"`
		Provider     string `json:"provider"`
		Organization string `json:"organization,omitempty"`
	}
	out := struct {
		Providers []link `json:"providers"`
	}{Providers: []link{}}
	for _, p := range cfg.Providers {
		l := link{}
		l.Subject, _ = p["subject"].(string)
		l.Provider, _ = p["provider"].(string)
		l.Organization, _ = p["organization"].(string)
		if l.Subject == "" || l.Provider == "" {
			return nil, "an oidc provider link has no provider or subject"
		}
		out.Providers = append(out.Providers, l)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err.Error()
	}
	return b, ""
}

// session adds a session that is still usable; revoked and expired ones
// are only counted (their tokens must stop working, and they do by not
// existing).
func (c *converter) session(out *converted, identityID uuid.UUID, sr sessionRow, problem func(row, reason string, skipped bool)) {
	name := "session " + sr.ID
	switch {
	case !bool(sr.Active):
		out.revoked++
		return
	case !sr.ExpiresAt.valid || !sr.ExpiresAt.t.After(c.now):
		out.expired++
		return
	case sr.Token.s == "":
		out.tokenless++
		return
	}
	sid, err := uuid.Parse(sr.ID)
	if err != nil {
		problem(name, "the id is not a UUID", false)
		return
	}
	var methods []session.AuthMethod
	if len(sr.Methods) > 0 {
		if err := json.Unmarshal(sr.Methods, &methods); err != nil {
			problem(name, "authentication_methods is not JSON", false)
			return
		}
	}
	for k := range methods {
		methods[k].CompletedAt = methods[k].CompletedAt.UTC()
	}
	created := sr.CreatedAt.orElse(c.now)
	authAt := sr.AuthenticatedAt.orElse(created)
	ss := &session.Session{
		ID: sid, IdentityID: identityID, Active: true, AAL: sr.AAL,
		AuthenticationMethods: methods, ExpiresAt: sr.ExpiresAt.t,
		AuthenticatedAt: authAt, IssuedAt: sr.IssuedAt.orElse(authAt),
		CreatedAt: created, UpdatedAt: sr.UpdatedAt.orElse(created),
	}
	if ss.AAL == "" {
		ss.AAL = session.AAL1
	}
	for _, d := range sr.Devices {
		did, err := uuid.Parse(d.ID)
		if err != nil {
			did = uuid.New()
		}
		ss.Devices = append(ss.Devices, session.Device{ID: did, IPAddress: d.IPAddress.ptr(), UserAgent: d.UserAgent.ptr(), Location: d.Where.ptr()})
	}
	out.sessions = append(out.sessions, importedSession{session: ss, token: sr.Token.s})
}

// ownedKeys lists what the identity claims that only one identity may
// have: its credential identifiers and its addresses.
func ownedKeys(i *identity.Identity) []sqlstore.Owned {
	var keys []sqlstore.Owned
	types := make([]string, 0, len(i.Credentials))
	for t := range i.Credentials {
		types = append(types, string(t))
	}
	sort.Strings(types)
	for _, t := range types {
		for _, v := range i.Credentials[identity.CredentialType(t)].Identifiers {
			keys = append(keys, sqlstore.Owned{Kind: t, Value: v})
		}
	}
	for _, a := range i.RecoveryAddresses {
		keys = append(keys, sqlstore.Owned{Kind: "recovery:" + a.Via, Value: a.Value})
	}
	for _, a := range i.VerifiableAddresses {
		keys = append(keys, sqlstore.Owned{Kind: "verifiable:" + a.Via, Value: a.Value})
	}
	return keys
}

func compactJSON(b []byte) (json.RawMessage, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("{}"), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// orElse is the time at the precision Latchkey stores, or fallback when
// NULL.
func (t nullTime) orElse(fallback time.Time) time.Time {
	if !t.valid {
		return fallback
	}
	return sqlstore.Time(t.t)
}

func (t nullText) ptr() *string {
	if !t.valid {
		return nil
	}
	v := t.s
	return &v
}
