package identity

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// PasswordHasher hashes new passwords and recognises imported hashes
// (internal/password implements it).
type PasswordHasher interface {
	// Hash returns the encoded hash of password with the configured algorithm.
	Hash(ctx context.Context, password []byte) (string, error)
	// IsKnownFormat reports whether hash is in a format Latchkey can verify
	// (bcrypt, argon2, pbkdf2, scrypt, ...).
	IsKnownFormat(hash string) bool
}

// Service holds the rules for identities: schema validation, derived
// credentials identifiers and addresses, password import, and atomic writes.
type Service struct {
	Store   Store
	Schemas *Schemas
	Hasher  PasswordHasher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Audit records address and password changes made by updates
	// (docs/audit.md); nil records nothing.
	Audit *audit.Recorder
}

// NewService returns a service with the given collaborators.
func NewService(store Store, schemas *Schemas, hasher PasswordHasher, now func() time.Time) *Service {
	return &Service{Store: store, Schemas: schemas, Hasher: hasher, Now: now}
}

// Page sizes of List.
const (
	DefaultPageSize = 250
	MaxPageSize     = 1000
)

// CreateInput is the admin create body (createIdentityBody); the admin
// handler decodes requests straight into it.
type CreateInput struct {
	// ID, when set, is the new identity's id (registration keeps the id
	// its hooks were shown); zero means a fresh one. Never read from JSON.
	ID                  uuid.UUID           `json:"-"`
	SchemaID            string              `json:"schema_id"`
	Traits              json.RawMessage     `json:"traits"`
	Credentials         *CredentialsInput   `json:"credentials,omitempty"`
	State               State               `json:"state,omitempty"`
	MetadataPublic      json.RawMessage     `json:"metadata_public,omitempty"`
	MetadataAdmin       json.RawMessage     `json:"metadata_admin,omitempty"`
	VerifiableAddresses []VerifiableAddress `json:"verifiable_addresses,omitempty"`
	RecoveryAddresses   []RecoveryAddress   `json:"recovery_addresses,omitempty"`
	ExternalID          string              `json:"external_id,omitempty"`
	// OrganizationID is accepted for SDK compatibility; only null is allowed.
	OrganizationID *string `json:"organization_id,omitempty"`
}

// UpdateInput is the admin full-update body (updateIdentityBody).
// Metadata left out is cleared; an empty schema_id or state keeps the
// current one; a missing external_id keeps the current one.
type UpdateInput struct {
	SchemaID       string            `json:"schema_id"`
	Traits         json.RawMessage   `json:"traits"`
	State          State             `json:"state"`
	MetadataPublic json.RawMessage   `json:"metadata_public,omitempty"`
	MetadataAdmin  json.RawMessage   `json:"metadata_admin,omitempty"`
	Credentials    *CredentialsInput `json:"credentials,omitempty"`
	ExternalID     *string           `json:"external_id,omitempty"`
}

// CredentialsInput carries credentials to set on create or update.
type CredentialsInput struct {
	Password *PasswordCredentialsInput `json:"password,omitempty"`
	// OIDC links provider accounts (social sign-up, or the admin API
	// importing them).
	OIDC *SocialCredentialsInput `json:"oidc,omitempty"`
}

// SocialCredentialsInput is credentials.oidc: {config: {providers: [{provider, subject}]}}.
type SocialCredentialsInput struct {
	Config struct {
		Providers []SocialLink `json:"providers"`
	} `json:"config"`
}

// PasswordCredentialsInput is credentials.password.
type PasswordCredentialsInput struct {
	Config PasswordInputConfig `json:"config"`
}

// PasswordInputConfig is credentials.password.config: a plain password
// (hashed with the configured hasher, not policy-checked) or an imported
// hash. hashed_password wins when both are set.
type PasswordInputConfig struct {
	Password                 string `json:"password,omitempty"`
	HashedPassword           string `json:"hashed_password,omitempty"`
	UsePasswordMigrationHook bool   `json:"use_password_migration_hook,omitempty"`
}

// ListParams are the admin list filters and pagination.
type ListParams struct {
	// PageSize defaults to DefaultPageSize and is capped at MaxPageSize.
	PageSize int
	// PageToken is the opaque token of the previous page's next link.
	PageToken string
	// CredentialsIdentifier keeps identities owning this identifier
	// (case-insensitive exact match).
	CredentialsIdentifier string
	// IDs keeps only these identities (no pagination).
	IDs []uuid.UUID
	// IncludeCredentials loads credentials (with their configs).
	IncludeCredentials bool
}

func (s *Service) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	// Microseconds: what every database keeps, so the value returned
	// equals the value read back later.
	return now().UTC().Truncate(time.Microsecond)
}

// Create validates and stores a new identity, all in one transaction.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Identity, error) {
	body, err := s.checkCreateBody(ctx, in)
	if err != nil {
		return nil, err
	}
	i, err := s.newIdentity(body)
	if err != nil {
		return nil, err
	}
	if err := s.Store.CreateIdentity(ctx, i); err != nil {
		return nil, storeError(err)
	}
	return i, nil
}

// Preview builds the identity Create would store from in (validated, its
// identifiers and addresses derived, with in.ID or a fresh id) without
// storing it: what registration's web_hooks see before anything is
// written.
func (s *Service) Preview(ctx context.Context, in CreateInput) (*Identity, error) {
	body, err := s.checkCreateBody(ctx, in)
	if err != nil {
		return nil, err
	}
	return s.newIdentity(body)
}

// checkedCreateBody is a create body that passed the checks Kratos makes
// while reading it, before any schema validation: in a batch these
// refuse the whole request, later ones only the one identity.
type checkedCreateBody struct {
	in    CreateInput
	state State
	// password is the stored password config (plain passwords hashed),
	// nil without one.
	password json.RawMessage
}

// checkCreateBody checks the state, the organization and the password
// import, hashing a plain password.
func (s *Service) checkCreateBody(ctx context.Context, in CreateInput) (checkedCreateBody, error) {
	if in.OrganizationID != nil {
		return checkedCreateBody{}, badRequest("Organizations are not supported; organization_id must be null.")
	}
	state := in.State
	if state == "" {
		state = StateActive
	}
	if !validState(state) {
		return checkedCreateBody{}, ErrInvalidState
	}
	pwConfig, err := s.passwordConfig(ctx, in.Credentials)
	if err != nil {
		return checkedCreateBody{}, err
	}
	return checkedCreateBody{in: in, state: state, password: pwConfig}, nil
}

// newIdentity validates a checked body against its schema and builds the
// identity to store, with fresh ids, its credentials identifiers and
// addresses derived from its traits.
func (s *Service) newIdentity(body checkedCreateBody) (*Identity, error) {
	in := body.in
	sch, err := s.schema(in.SchemaID)
	if err != nil {
		return nil, err
	}
	traits, err := normaliseTraits(in.Traits)
	if err != nil {
		return nil, err
	}
	metaPublic, err := normaliseMetadata("metadata_public", in.MetadataPublic)
	if err != nil {
		return nil, err
	}
	metaAdmin, err := normaliseMetadata("metadata_admin", in.MetadataAdmin)
	if err != nil {
		return nil, err
	}
	if err := validateExternalID(in.ExternalID); err != nil {
		return nil, err
	}
	if err := validateImportedAddresses(in.VerifiableAddresses, in.RecoveryAddresses); err != nil {
		return nil, err
	}
	if err := sch.Validate(traits); err != nil {
		return nil, err
	}
	now := s.now()
	id := in.ID
	if id == uuid.Nil {
		id = uuid.New()
	}
	i := &Identity{
		ID: id, ExternalID: strings.TrimSpace(in.ExternalID), SchemaID: sch.ID,
		State: body.state, StateChangedAt: &now, Traits: traits,
		Credentials:    map[CredentialType]Credential{},
		MetadataPublic: metaPublic, MetadataAdmin: metaAdmin, CreatedAt: now, UpdatedAt: now,
	}
	if body.password != nil {
		i.Credentials[CredentialPassword] = Credential{ID: uuid.New(), Type: CredentialPassword, Config: body.password, CreatedAt: now, UpdatedAt: now}
	}
	if c := in.Credentials; c != nil && c.OIDC != nil && len(c.OIDC.Config.Providers) > 0 {
		for _, l := range c.OIDC.Config.Providers {
			if l.Provider == "" || l.Subject == "" {
				return nil, badRequest("credentials.oidc.config.providers: every entry needs a provider and a subject")
			}
		}
		cred, err := socialCredential(c.OIDC.Config.Providers)
		if err != nil {
			return nil, err
		}
		cred.ID, cred.CreatedAt, cred.UpdatedAt = uuid.New(), now, now
		i.Credentials[CredentialOIDC] = cred
	}
	if err := derive(sch, i, nil, nil, in.VerifiableAddresses, now); err != nil {
		return nil, err
	}
	return i, nil
}

// Update validates i (schema, state, traits, metadata), re-derives its
// identifiers and addresses (stored addresses keep their ids and
// verification status) and saves it. Nil Credentials keep the stored ones.
func (s *Service) Update(ctx context.Context, i *Identity) error {
	return s.Store.InTx(ctx, func(ctx context.Context) error {
		cur, err := s.Store.GetIdentity(ctx, i.ID, true)
		if err != nil {
			return storeError(err)
		}
		return s.save(ctx, cur, i)
	})
}

// Replace applies a full update (PUT /admin/identities/{id}).
func (s *Service) Replace(ctx context.Context, id uuid.UUID, in UpdateInput) (*Identity, error) {
	pwConfig, err := s.passwordConfig(ctx, in.Credentials)
	if err != nil {
		return nil, err
	}
	return s.change(ctx, id, pwConfig, func(next *Identity) error {
		if in.SchemaID != "" {
			next.SchemaID = in.SchemaID
		}
		if in.State != "" {
			next.State = in.State
		}
		next.Traits = in.Traits
		next.MetadataPublic, next.MetadataAdmin = in.MetadataPublic, in.MetadataAdmin
		if in.ExternalID != nil {
			next.ExternalID = strings.TrimSpace(*in.ExternalID)
		}
		return nil
	})
}

// UpdateTraits replaces the traits (settings "profile"), validating them
// and re-deriving identifiers and addresses.
func (s *Service) UpdateTraits(ctx context.Context, id uuid.UUID, traits json.RawMessage) (*Identity, error) {
	return s.change(ctx, id, nil, func(next *Identity) error {
		next.Traits = traits
		return nil
	})
}

// change loads the identity in a transaction, lets edit change a copy of
// it, sets the password config when one is given, and saves the copy over
// the stored identity (validated, identifiers and addresses re-derived).
func (s *Service) change(ctx context.Context, id uuid.UUID, pwConfig json.RawMessage, edit func(next *Identity) error) (*Identity, error) {
	var out *Identity
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
		cur, err := s.Store.GetIdentity(ctx, id, true)
		if err != nil {
			return storeError(err)
		}
		next := cur.Clone()
		if err := edit(next); err != nil {
			return err
		}
		if pwConfig != nil {
			next.setCredentialConfig(CredentialPassword, pwConfig, s.now())
		}
		if err := s.save(ctx, cur, next); err != nil {
			return err
		}
		out = next
		return s.recordChange(ctx, cur, next, pwConfig != nil)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetPassword stores a new password hash for the identity, keeping the
// credential's identifiers (settings, login re-hash).
func (s *Service) SetPassword(ctx context.Context, id uuid.UUID, hashed string) error {
	cfg, err := json.Marshal(PasswordConfig{HashedPassword: hashed})
	if err != nil {
		return err
	}
	return storeError(s.Store.SetCredentialConfig(ctx, id, CredentialPassword, cfg, s.now()))
}

// PutCredential creates or replaces one credential of the identity (a
// second factor being enrolled), identifiers included.
func (s *Service) PutCredential(ctx context.Context, id uuid.UUID, c Credential) error {
	c.UpdatedAt = s.now()
	return storeError(s.Store.PutCredential(ctx, id, c))
}

// SwapCredentialConfig replaces a credential's config only if it is
// still old (see Store.SwapCredentialConfig): the way a single-use secret
// is spent.
func (s *Service) SwapCredentialConfig(ctx context.Context, id uuid.UUID, ct CredentialType, old, next json.RawMessage) error {
	return storeError(s.Store.SwapCredentialConfig(ctx, id, ct, old, next, s.now()))
}

// DeleteCredential removes one credential of the identity; it does not
// check whether the identity can still sign in (callers do).
func (s *Service) DeleteCredential(ctx context.Context, id uuid.UUID, ct CredentialType) error {
	return storeError(s.Store.DeleteCredential(ctx, id, ct, s.now()))
}

// Get loads an identity with its credentials.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*Identity, error) {
	i, err := s.Store.GetIdentity(ctx, id, true)
	if err != nil {
		return nil, storeError(err)
	}
	return i, nil
}

// GetPublic loads an identity without credentials (cheaper; what sessions
// show).
func (s *Service) GetPublic(ctx context.Context, id uuid.UUID) (*Identity, error) {
	i, err := s.Store.GetIdentity(ctx, id, false)
	if err != nil {
		return nil, storeError(err)
	}
	return i, nil
}

// Delete deletes an identity and everything that belongs to it.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	return storeError(s.Store.DeleteIdentity(ctx, id))
}

// List returns one page of identities ordered by creation, and the token
// of the next page ("" on the last page).
func (s *Service) List(ctx context.Context, p ListParams) ([]*Identity, string, error) {
	size := p.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	if size > MaxPageSize {
		size = MaxPageSize
	}
	q := ListQuery{Limit: size + 1, WithCredentials: p.IncludeCredentials}
	if p.CredentialsIdentifier != "" {
		q.Identifier = NormaliseIdentifier(p.CredentialsIdentifier)
	}
	if p.IDs != nil {
		if len(p.IDs) > MaxPageSize {
			return nil, "", badRequest("At most %d ids can be requested at once.", MaxPageSize)
		}
		// The ids filter is not paginated.
		q.IDs, q.Limit = p.IDs, len(p.IDs)
	} else if p.PageToken != "" {
		c, err := decodePageToken(p.PageToken)
		if err != nil {
			return nil, "", err
		}
		q.After = c
	}
	list, err := s.Store.ListIdentities(ctx, q)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if p.IDs == nil && len(list) > size {
		list = list[:size]
		last := list[size-1]
		next = encodePageToken(Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	return list, next, nil
}

// FindByIdentifier loads the identity (with credentials) whose credential
// of type ct has the identifier (compared trimmed and lower-cased).
func (s *Service) FindByIdentifier(ctx context.Context, ct CredentialType, identifier string) (*Identity, error) {
	identifier = NormaliseIdentifier(identifier)
	if identifier == "" {
		return nil, ErrNotFound
	}
	i, err := s.Store.FindIdentityByIdentifier(ctx, ct, identifier)
	if err != nil {
		return nil, storeError(err)
	}
	return i, nil
}

// FindRecoveryAddress finds a recovery address (case-insensitive for
// email) and loads its identity with credentials.
func (s *Service) FindRecoveryAddress(ctx context.Context, via, value string) (*RecoveryAddress, *Identity, error) {
	value = normaliseAddress(via, value)
	if value == "" {
		return nil, nil, ErrNotFound
	}
	addr, i, err := s.Store.FindRecoveryAddress(ctx, via, value)
	if err != nil {
		return nil, nil, storeError(err)
	}
	return addr, i, nil
}

// MarkVerified sets the identity's verifiable address (via, value) to
// verified, status completed, verified_at now. ErrNotFound when the
// identity has no such verifiable address.
func (s *Service) MarkVerified(ctx context.Context, identityID uuid.UUID, via, value string) error {
	value = normaliseAddress(via, value)
	return storeError(s.Store.MarkAddressVerified(ctx, identityID, via, value, s.now()))
}

// ValidateTraits checks traits against a schema ("" = default) and the
// extension's address rules, returning UI-ready field errors (nil when
// valid). An unknown schema is reported as one generic error.
func (s *Service) ValidateTraits(schemaID string, traits json.RawMessage) []FieldError {
	sch, err := s.schema(schemaID)
	if err != nil {
		return []FieldError{genericField("traits", httpx.AsError(err).Reason)}
	}
	t, err := normaliseTraits(traits)
	if err != nil {
		return []FieldError{genericField("traits", httpx.AsError(err).Reason)}
	}
	err = sch.Validate(t)
	if err == nil {
		scratch := &Identity{Traits: t, Credentials: map[CredentialType]Credential{}}
		err = derive(sch, scratch, nil, nil, nil, time.Time{})
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Fields
	}
	return nil
}

// save validates next against its schema and writes it over cur.
func (s *Service) save(ctx context.Context, cur, next *Identity) error {
	sch, err := s.schema(next.SchemaID)
	if err != nil {
		return err
	}
	next.SchemaID = sch.ID
	if !validState(next.State) {
		return ErrInvalidState
	}
	if err := validateExternalID(next.ExternalID); err != nil {
		return err
	}
	if next.Traits, err = normaliseTraits(next.Traits); err != nil {
		return err
	}
	if next.MetadataPublic, err = normaliseMetadata("metadata_public", next.MetadataPublic); err != nil {
		return err
	}
	if next.MetadataAdmin, err = normaliseMetadata("metadata_admin", next.MetadataAdmin); err != nil {
		return err
	}
	if err := sch.Validate(next.Traits); err != nil {
		return err
	}
	now := s.now()
	if next.Credentials == nil {
		next.Credentials = cur.Clone().Credentials
	}
	if next.State != cur.State {
		next.StateChangedAt = &now
	}
	if err := derive(sch, next, cur.RecoveryAddresses, cur.VerifiableAddresses, nil, now); err != nil {
		return err
	}
	next.ID, next.CreatedAt, next.UpdatedAt = cur.ID, cur.CreatedAt, now
	return storeError(s.Store.UpdateIdentity(ctx, next))
}

func (s *Service) schema(id string) (*Schema, error) {
	sch, err := s.Schemas.Get(id)
	if err != nil {
		return nil, badRequest("Unable to find JSON Schema ID: %s", id)
	}
	return sch, nil
}

// passwordConfig turns credentials.password.config into the stored config,
// hashing a plain password; nil when no password is given.
func (s *Service) passwordConfig(ctx context.Context, in *CredentialsInput) (json.RawMessage, error) {
	if in == nil || in.Password == nil {
		return nil, nil
	}
	c := in.Password.Config
	switch {
	case c.HashedPassword != "":
		if s.Hasher == nil || !s.Hasher.IsKnownFormat(c.HashedPassword) {
			return nil, ErrUnknownHashFormat
		}
		return json.Marshal(PasswordConfig{HashedPassword: c.HashedPassword})
	case c.Password != "":
		if s.Hasher == nil {
			return nil, httpx.ErrInternal(errors.New("identity: no password hasher configured"))
		}
		h, err := s.Hasher.Hash(ctx, []byte(c.Password))
		if err != nil {
			return nil, fmt.Errorf("hash password: %w", err)
		}
		return json.Marshal(PasswordConfig{HashedPassword: h})
	case c.UsePasswordMigrationHook:
		return json.RawMessage(`{"use_password_migration_hook":true}`), nil
	}
	return nil, nil
}

// storeError maps store errors to the service's error values.
func storeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storeerr.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, storeerr.ErrConflict):
		return ErrConflict
	}
	return err
}

func validState(s State) bool { return s == StateActive || s == StateInactive }

// normaliseTraits requires a JSON object ("" or null mean {}) and compacts it.
func normaliseTraits(t json.RawMessage) (json.RawMessage, error) {
	t = bytes.TrimSpace(t)
	if len(t) == 0 || string(t) == "null" {
		return json.RawMessage("{}"), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(t, &m); err != nil {
		return nil, badRequest("traits must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, t); err != nil {
		return nil, badRequest("traits must be a JSON object")
	}
	return buf.Bytes(), nil
}

// normaliseMetadata keeps any JSON value; "" and null mean none.
func normaliseMetadata(name string, m json.RawMessage) (json.RawMessage, error) {
	m = bytes.TrimSpace(m)
	if len(m) == 0 || string(m) == "null" {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, m); err != nil {
		return nil, badRequest("%s must be valid JSON", name)
	}
	return buf.Bytes(), nil
}

// maxExternalIDLength is the external_id column size on MySQL.
const maxExternalIDLength = 255

func validateExternalID(id string) error {
	if n := len([]rune(strings.TrimSpace(id))); n > maxExternalIDLength {
		return badRequest("external_id must be at most %d characters long, got %d", maxExternalIDLength, n)
	}
	return nil
}

func validateImportedAddresses(v []VerifiableAddress, r []RecoveryAddress) error {
	for _, a := range v {
		if a.Via != ViaEmail && a.Via != ViaSMS {
			return badRequest("verifiable_addresses: via must be %q or %q, got %q", ViaEmail, ViaSMS, a.Via)
		}
		switch a.Status {
		case "", VerifiableStatusPending, VerifiableStatusSent, VerifiableStatusCompleted:
		default:
			return badRequest("verifiable_addresses: status must be pending, sent or completed, got %q", a.Status)
		}
	}
	for _, a := range r {
		if a.Via != ViaEmail && a.Via != ViaSMS {
			return badRequest("recovery_addresses: via must be %q or %q, got %q", ViaEmail, ViaSMS, a.Via)
		}
	}
	return nil
}

// NormaliseIdentifier is how password identifiers are stored and looked
// up: trimmed and lower-cased (login budgets count by it too).
func NormaliseIdentifier(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// normaliseAddress is how addresses are stored: email trimmed and
// lower-cased, other channels trimmed.
func normaliseAddress(via, value string) string {
	value = strings.TrimSpace(value)
	if via == ViaEmail {
		value = strings.ToLower(value)
	}
	return value
}

func encodePageToken(c Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.UTC().Format(time.RFC3339Nano) + "/" + c.ID.String()))
}

func decodePageToken(tok string) (*Cursor, error) {
	invalid := badRequest("The page_token is invalid; use the token of the Link header's next page.")
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, invalid
	}
	ts, id, ok := strings.Cut(string(b), "/")
	if !ok {
		return nil, invalid
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, invalid
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, invalid
	}
	return &Cursor{CreatedAt: t, ID: u}, nil
}
