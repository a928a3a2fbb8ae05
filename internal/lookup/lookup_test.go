package lookup

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/identity"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/storeerr"
)

func mustCipher(t *testing.T) *secret.Cipher {
	t.Helper()
	c, err := secret.NewCipher([][]byte{[]byte("a test cipher secret of 32 bytes")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGenerateMakesTwelveDistinctCodesInKratosFormat(t *testing.T) {
	format := regexp.MustCompile(`^[a-z0-9]{8}$`)
	for range 50 {
		s := Generate()
		if len(s.RecoveryCodes) != Count {
			t.Fatalf("%d codes, want %d", len(s.RecoveryCodes), Count)
		}
		seen := map[string]bool{}
		for _, c := range s.RecoveryCodes {
			if !format.MatchString(c.Code) || c.UsedAt != nil || seen[c.Code] {
				t.Fatalf("bad or repeated code %+v in %+v", c, s)
			}
			seen[c.Code] = true
		}
	}
}

func TestSetJSONIsKratosConfigShape(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := json.Marshal(Set{RecoveryCodes: []Code{{Code: "abcd1234"}, {Code: "efgh5678", UsedAt: &at}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"recovery_codes":[{"code":"abcd1234","used_at":null},{"code":"efgh5678","used_at":"2026-01-02T03:04:05Z"}]}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
}

func TestFind(t *testing.T) {
	at := time.Now()
	set := Set{RecoveryCodes: []Code{{Code: "aaaa1111"}, {Code: "bbbb2222", UsedAt: &at}, {Code: "cccc3333"}}}
	tests := []struct {
		typed string
		idx   int
		want  Match
	}{
		{"aaaa1111", 0, Unused},
		{"cccc3333", 2, Unused},
		{"bbbb2222", 1, Used},
		{"dddd4444", -1, Invalid},
		{"", -1, Invalid},
		{"AAAA1111", -1, Invalid},
		{"aaaa111", -1, Invalid},
		{"aaaa11111", -1, Invalid},
	}
	for _, tt := range tests {
		idx, m := set.Find(tt.typed)
		if idx != tt.idx || m != tt.want {
			t.Errorf("Find(%q) = %d, %v; want %d, %v", tt.typed, idx, m, tt.idx, tt.want)
		}
	}
}

func TestSealedConfigOpensOnlyForItsIdentity(t *testing.T) {
	c := mustCipher(t)
	id := uuid.New()
	set := Generate()
	cred, err := Credential(c, id, set)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Identifiers[0] != id.String() || cred.Type != identity.CredentialLookupSecret {
		t.Fatalf("credential %+v", cred)
	}
	for _, code := range set.RecoveryCodes {
		if strings.Contains(string(cred.Config), code.Code) {
			t.Fatalf("code %s in clear in %s", code.Code, cred.Config)
		}
	}
	ident := &identity.Identity{ID: id, Credentials: map[identity.CredentialType]identity.Credential{identity.CredentialLookupSecret: cred}}
	got, old, err := Open(c, ident)
	if err != nil || string(old) != string(cred.Config) || got.RecoveryCodes[3].Code != set.RecoveryCodes[3].Code {
		t.Fatalf("Open = %+v, %s, %v", got, old, err)
	}
	ident.ID = uuid.New()
	if _, _, err := Open(c, ident); err == nil {
		t.Fatal("a config moved to another identity opened")
	}
	if _, _, err := Open(c, &identity.Identity{ID: id}); err != ErrNoCodes {
		t.Fatalf("no credential: %v, want ErrNoCodes", err)
	}
}

// memIdentities is one identity whose lookup_secret config is swapped
// under a lock, as the SQL store does.
type memIdentities struct {
	mu     sync.Mutex
	ident  identity.Identity
	swaps  int
	before func() // runs before a swap (a concurrent spend sneaking in)
}

func (m *memIdentities) Get(_ context.Context, _ uuid.UUID) (*identity.Identity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := m.ident
	cp.Credentials = map[identity.CredentialType]identity.Credential{}
	for k, v := range m.ident.Credentials {
		cp.Credentials[k] = v
	}
	return &cp, nil
}

func (m *memIdentities) SwapCredentialConfig(_ context.Context, _ uuid.UUID, ct identity.CredentialType, old, next json.RawMessage) error {
	if f := m.before; f != nil {
		m.before = nil
		f()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.ident.Credentials[ct]
	if !ok {
		return storeerr.ErrNotFound
	}
	if string(c.Config) != string(old) {
		return storeerr.ErrConflict
	}
	c.Config = next
	m.ident.Credentials[ct] = c
	m.swaps++
	return nil
}

func newSpender(t *testing.T) (*Spender, *memIdentities, Set) {
	c := mustCipher(t)
	id := uuid.New()
	set := Generate()
	cred, err := Credential(c, id, set)
	if err != nil {
		t.Fatal(err)
	}
	mem := &memIdentities{ident: identity.Identity{ID: id, Credentials: map[identity.CredentialType]identity.Credential{identity.CredentialLookupSecret: cred}}}
	return &Spender{Sealer: c, Identities: mem}, mem, set
}

func TestSpend(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 10, 0, 0, 600_000_000, time.UTC)

	t.Run("UnusedCodeIsSpentAndRecordedToTheSecond", func(t *testing.T) {
		s, mem, set := newSpender(t)
		ident, _ := mem.Get(ctx, uuid.Nil)
		m, err := s.Spend(ctx, ident, set.RecoveryCodes[5].Code, now)
		if err != nil || m != Unused {
			t.Fatalf("Spend = %v, %v", m, err)
		}
		ident, _ = mem.Get(ctx, uuid.Nil)
		got, _, _ := Open(s.Sealer, ident)
		if u := got.RecoveryCodes[5].UsedAt; u == nil || !u.Equal(now.Round(time.Second)) {
			t.Fatalf("used_at = %v", u)
		}
		if got.Unused() != Count-1 {
			t.Fatalf("%d unused", got.Unused())
		}
		if m, _ := s.Spend(ctx, ident, set.RecoveryCodes[5].Code, now); m != Used {
			t.Fatalf("second use = %v, want Used", m)
		}
	})
	t.Run("UnknownCodeChangesNothing", func(t *testing.T) {
		s, mem, _ := newSpender(t)
		ident, _ := mem.Get(ctx, uuid.Nil)
		if m, err := s.Spend(ctx, ident, "zzzzzzzz", now); err != nil || m != Invalid {
			t.Fatalf("Spend = %v, %v", m, err)
		}
		if mem.swaps != 0 {
			t.Fatalf("%d writes", mem.swaps)
		}
	})
	t.Run("SameCodeSpentMeanwhileIsUsed", func(t *testing.T) {
		s, mem, set := newSpender(t)
		stale, _ := mem.Get(ctx, uuid.Nil)
		fresh, _ := mem.Get(ctx, uuid.Nil)
		if m, _ := s.Spend(ctx, fresh, set.RecoveryCodes[0].Code, now); m != Unused {
			t.Fatal("first use did not win")
		}
		if m, err := s.Spend(ctx, stale, set.RecoveryCodes[0].Code, now); err != nil || m != Used {
			t.Fatalf("concurrent second use = %v, %v; want Used", m, err)
		}
	})
	t.Run("OtherCodeSpentMeanwhileStillSpendsThisOne", func(t *testing.T) {
		s, mem, set := newSpender(t)
		ident, _ := mem.Get(ctx, uuid.Nil)
		mem.before = func() {
			other, _ := mem.Get(ctx, uuid.Nil)
			if m, _ := s.Spend(ctx, other, set.RecoveryCodes[1].Code, now); m != Unused {
				t.Error("other code not spent")
			}
		}
		if m, err := s.Spend(ctx, ident, set.RecoveryCodes[2].Code, now); err != nil || m != Unused {
			t.Fatalf("Spend = %v, %v", m, err)
		}
		ident, _ = mem.Get(ctx, uuid.Nil)
		if got, _, _ := Open(s.Sealer, ident); got.Unused() != Count-2 {
			t.Fatalf("%d unused, want %d", got.Unused(), Count-2)
		}
	})
	t.Run("NoCodes", func(t *testing.T) {
		s, _, _ := newSpender(t)
		if _, err := s.Spend(ctx, &identity.Identity{ID: uuid.New()}, "aaaaaaaa", now); err != ErrNoCodes {
			t.Fatalf("err = %v", err)
		}
	})
}
