package identity

import (
	"context"
	"net/http"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/storeerr"
)

// Limits of one batch import (PATCH /admin/identities), Kratos's. Plain
// passwords are hashed while the request waits, hence the lower limit.
const (
	MaxBatchSize               = 1000
	MaxBatchPlaintextPasswords = 200
)

// ErrBatchConflict is how Kratos reports an identity of a batch that
// conflicts with a stored identity or an earlier one of the same batch:
// its database layer's unique-violation error, without the reason a
// single create gives.
var ErrBatchConflict = &httpx.Error{Code: http.StatusConflict, Message: "Unable to insert or update resource because a resource with that value exists already", Cause: storeerr.ErrConflict}

// BatchResult is what became of one entry of CreateBatch: Identity when
// it was created, Err when it was not; neither for a nil entry.
type BatchResult struct {
	Identity *Identity
	// Err is a 400 for a body its schema rejects, or ErrBatchConflict.
	Err *httpx.Error
}

// CreateBatch creates identities as Kratos's batch import does. A nil
// entry creates nothing. The whole batch is refused (the error) when it
// has more than MaxBatchSize entries or more than
// MaxBatchPlaintextPasswords plain passwords, or when any body fails the
// checks made before schema validation (state, organization, password
// import). Otherwise each identity stands alone: one that its schema
// rejects or that conflicts is reported in its result, and the others
// are created, in one transaction. Where one identity conflicts with
// another of the batch, the earlier one is created.
func (s *Service) CreateBatch(ctx context.Context, bodies []*CreateInput) ([]BatchResult, error) {
	if len(bodies) > MaxBatchSize {
		return nil, badRequest("The maximum number of identities per request that can be created or deleted at once is %d.", MaxBatchSize)
	}
	// Counted before anything is hashed: Kratos hashes first and refuses
	// after, so a batch with both this fault and a bad body gets the
	// other error there.
	if n := countPlaintextPasswords(bodies); n > MaxBatchPlaintextPasswords {
		return nil, badRequest("The maximum number of identities per request that can be created with a plaintext password is %d.", MaxBatchPlaintextPasswords)
	}
	checked := make([]*checkedCreateBody, len(bodies))
	for n, in := range bodies {
		if in == nil {
			continue
		}
		body, err := s.checkCreateBody(ctx, *in)
		if err != nil {
			return nil, err
		}
		checked[n] = &body
	}

	results := make([]BatchResult, len(bodies))
	var valid []*Identity
	var validAt []int // index in bodies of each of valid
	for n, body := range checked {
		if body == nil {
			continue
		}
		i, err := s.newIdentity(*body)
		if err != nil {
			e := httpx.AsError(err)
			if e.Code >= http.StatusInternalServerError {
				return nil, err
			}
			results[n].Err = e
			continue
		}
		valid, validAt = append(valid, i), append(validAt, n)
	}
	if len(valid) == 0 {
		return results, nil
	}
	conflicts, err := s.Store.CreateIdentitiesSkippingConflicts(ctx, valid)
	if err != nil {
		return nil, err
	}
	for k, i := range valid {
		if conflicts[k] != nil {
			results[validAt[k]].Err = ErrBatchConflict
			continue
		}
		results[validAt[k]].Identity = i
	}
	return results, nil
}

// countPlaintextPasswords counts the bodies with a plain password, as
// Kratos does (a hashed_password beside it does not matter).
func countPlaintextPasswords(bodies []*CreateInput) int {
	n := 0
	for _, in := range bodies {
		if in != nil && in.Credentials != nil && in.Credentials.Password != nil && in.Credentials.Password.Config.Password != "" {
			n++
		}
	}
	return n
}
