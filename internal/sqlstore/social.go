package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/social"
)

// SocialStore implements social.Store: the social_round_trips and
// session_token_exchanges tables.
type SocialStore struct{ DB *DB }

// NewSocialStore returns the social sign-in store of db.
func NewSocialStore(db *DB) *SocialStore { return &SocialStore{DB: db} }

var _ social.Store = (*SocialStore)(nil)

// CreateRoundTrip inserts a trip. Older unused trips of the same browser
// and flow are dropped: only the newest button press can come back.
func (s *SocialStore) CreateRoundTrip(ctx context.Context, rt *social.RoundTrip) error {
	return s.DB.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.DB.Exec(ctx, `DELETE FROM social_round_trips WHERE flow_id = ? AND browser = ? AND used_at IS NULL`,
			rt.FlowID.String(), rt.Browser); err != nil {
			return err
		}
		_, err := s.DB.Exec(ctx, `INSERT INTO social_round_trips (id, state_hash, flow_id, flow_kind, provider, browser, sealed, expires_at, used_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
			rt.ID.String(), rt.StateHash, rt.FlowID.String(), rt.FlowKind, rt.Provider, rt.Browser, rt.Sealed, s.DB.T(rt.ExpiresAt), s.DB.T(rt.CreatedAt))
		return err
	})
}

// RoundTripByState finds a trip by the keyed hash of its state.
func (s *SocialStore) RoundTripByState(ctx context.Context, hashes []string) (*social.RoundTrip, error) {
	args := make([]any, len(hashes))
	for n, h := range hashes {
		args[n] = h
	}
	var (
		rt       social.RoundTrip
		id, flow string
		used     *time.Time
	)
	err := s.DB.QueryRow(ctx, `SELECT id, state_hash, flow_id, flow_kind, provider, browser, sealed, expires_at, used_at, created_at
		FROM social_round_trips WHERE state_hash`+oneOf(len(hashes)), args...).
		Scan(&id, &rt.StateHash, &flow, &rt.FlowKind, &rt.Provider, &rt.Browser, &rt.Sealed, &rt.ExpiresAt, &used, &rt.CreatedAt)
	if err != nil {
		return nil, ScanErr(err)
	}
	rt.ID, rt.FlowID = uuid.MustParse(id), uuid.MustParse(flow)
	rt.ExpiresAt, rt.CreatedAt, rt.UsedAt = rt.ExpiresAt.UTC(), rt.CreatedAt.UTC(), utcPtr(used)
	return &rt, nil
}

// SpendRoundTrip marks a trip used; only one concurrent caller wins.
func (s *SocialStore) SpendRoundTrip(ctx context.Context, id uuid.UUID, at time.Time) (bool, error) {
	return s.DB.spendSecret(ctx, "social_round_trips", id, at)
}

// CreateExchange inserts a session token exchange.
func (s *SocialStore) CreateExchange(ctx context.Context, e *social.Exchange) error {
	_, err := s.DB.Exec(ctx, `INSERT INTO session_token_exchanges (id, flow_id, init_code_hash, return_to_code_hash, session_id, sealed_token, expires_at, used_at, created_at)
		VALUES (?, ?, ?, NULL, NULL, NULL, ?, NULL, ?)`,
		e.ID.String(), e.FlowID.String(), e.InitCodeHash, s.DB.T(e.ExpiresAt), s.DB.T(e.CreatedAt))
	return err
}

const exchangeColumns = `id, flow_id, init_code_hash, return_to_code_hash, session_id, sealed_token, expires_at, used_at, created_at`

// ExchangeOfFlow loads the exchange of a flow.
func (s *SocialStore) ExchangeOfFlow(ctx context.Context, flowID uuid.UUID) (*social.Exchange, error) {
	return s.scanExchange(s.DB.QueryRow(ctx, `SELECT `+exchangeColumns+` FROM session_token_exchanges WHERE flow_id = ?`, flowID.String()))
}

// MoveExchange gives flow from's exchange to flow to.
func (s *SocialStore) MoveExchange(ctx context.Context, from, to uuid.UUID) error {
	_, err := s.DB.Exec(ctx, `UPDATE session_token_exchanges SET flow_id = ? WHERE flow_id = ?`, to.String(), from.String())
	return err
}

// ExchangeByInitCode finds an exchange by the keyed hash of its init code.
func (s *SocialStore) ExchangeByInitCode(ctx context.Context, hashes []string) (*social.Exchange, error) {
	args := make([]any, len(hashes))
	for n, h := range hashes {
		args[n] = h
	}
	return s.scanExchange(s.DB.QueryRow(ctx, `SELECT `+exchangeColumns+` FROM session_token_exchanges WHERE init_code_hash`+oneOf(len(hashes)), args...))
}

// CompleteExchange records the session an exchange hands out.
func (s *SocialStore) CompleteExchange(ctx context.Context, id uuid.UUID, returnToCodeHash string, sessionID uuid.UUID, sealedToken string) error {
	_, err := s.DB.Exec(ctx, `UPDATE session_token_exchanges SET return_to_code_hash = ?, session_id = ?, sealed_token = ? WHERE id = ? AND used_at IS NULL`,
		returnToCodeHash, sessionID.String(), sealedToken, id.String())
	return err
}

// SpendExchange marks an exchange used and forgets its sealed token; only
// one concurrent caller wins.
func (s *SocialStore) SpendExchange(ctx context.Context, id uuid.UUID, at time.Time) (bool, error) {
	res, err := s.DB.Exec(ctx, `UPDATE session_token_exchanges SET used_at = ?, sealed_token = NULL WHERE id = ? AND used_at IS NULL`, s.DB.T(at), id.String())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *SocialStore) scanExchange(row *Row) (*social.Exchange, error) {
	var (
		e                        social.Exchange
		id, flow                 string
		returnHash, sess, sealed sql.NullString
		used                     *time.Time
	)
	if err := row.Scan(&id, &flow, &e.InitCodeHash, &returnHash, &sess, &sealed, &e.ExpiresAt, &used, &e.CreatedAt); err != nil {
		return nil, ScanErr(err)
	}
	e.ID, e.FlowID = uuid.MustParse(id), uuid.MustParse(flow)
	e.ReturnToCodeHash, e.SealedToken = returnHash.String, sealed.String
	if sess.Valid {
		sid := uuid.MustParse(sess.String)
		e.SessionID = &sid
	}
	e.ExpiresAt, e.CreatedAt, e.UsedAt = e.ExpiresAt.UTC(), e.CreatedAt.UTC(), utcPtr(used)
	return &e, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
