package sqlstore

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// spendSecret marks row id of table (a table of one-time codes or link
// tokens: recovery_codes, verification_tokens, ...) used at at, unless it
// already was. Only one of several concurrent callers sees true: the
// conditional UPDATE takes the row lock and re-checks used_at.
func (db *DB) spendSecret(ctx context.Context, table string, id uuid.UUID, at time.Time) (bool, error) {
	res, err := db.Exec(ctx, `UPDATE `+table+` SET used_at = ? WHERE id = ? AND used_at IS NULL`, db.T(at), id.String())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
