package sqlstore

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/session"
)

// The cache's own rules, without a database: what a lookup that raced
// with a change may and may not leave behind.
func TestWhoamiCache(t *testing.T) {
	newSession := func() *session.Session { return &session.Session{ID: uuid.New(), IdentityID: uuid.New()} }

	t.Run("ServesWhatWasPut", func(t *testing.T) {
		c := newWhoamiCache(time.Hour)
		s := newSession()
		epoch, at := c.start()
		c.put("k", s, true, epoch, at)
		got, secondFactor, ok := c.get("k")
		if !ok || got != s || !secondFactor {
			t.Fatalf("get = %v %v %v", got, secondFactor, ok)
		}
	})

	t.Run("LookupThatStartedBeforeAChangeIsNotKept", func(t *testing.T) {
		for name, changed := range map[string]func(s *session.Session) uuid.UUID{
			"Session":  func(s *session.Session) uuid.UUID { return s.ID },
			"Identity": func(s *session.Session) uuid.UUID { return s.IdentityID },
		} {
			c := newWhoamiCache(time.Hour)
			s := newSession()
			epoch, at := c.start()          // the lookup reads the database …
			c.invalidate(changed(s))        // … a change commits …
			c.put("k", s, false, epoch, at) // … and the stale answer arrives.
			if _, _, ok := c.get("k"); ok {
				t.Fatalf("%s: stale lookup served", name)
			}
		}
	})

	t.Run("ChangeDropsWhatWasCached", func(t *testing.T) {
		c := newWhoamiCache(time.Hour)
		s := newSession()
		epoch, at := c.start()
		c.put("k", s, false, epoch, at)
		c.invalidate(s.IdentityID)
		if _, _, ok := c.get("k"); ok {
			t.Fatal("served after a change of its identity")
		}
		epoch, at = c.start()
		c.put("k", s, false, epoch, at)
		if _, _, ok := c.get("k"); !ok {
			t.Fatal("a lookup after the change is not kept")
		}
	})

	t.Run("OtherChangesDoNotDropIt", func(t *testing.T) {
		c := newWhoamiCache(time.Hour)
		s := newSession()
		epoch, at := c.start()
		c.invalidate(uuid.New())
		c.put("k", s, false, epoch, at)
		if _, _, ok := c.get("k"); !ok {
			t.Fatal("dropped by a change of another session")
		}
	})

	t.Run("Expires", func(t *testing.T) {
		c := newWhoamiCache(time.Hour)
		s := newSession()
		epoch, at := c.start()
		c.put("k", s, false, epoch, at.Add(-time.Hour))
		if _, _, ok := c.get("k"); ok {
			t.Fatal("served after its TTL")
		}
	})

	t.Run("Bounded", func(t *testing.T) {
		c := newWhoamiCache(time.Hour)
		for i := 0; i < 3*whoamiCacheSize; i++ {
			epoch, at := c.start()
			c.put(uuid.NewString(), newSession(), false, epoch, at)
		}
		if n := len(c.entries); n > whoamiCacheSize {
			t.Fatalf("%d entries", n)
		}
	})

	t.Run("OffWithoutTTL", func(t *testing.T) {
		c := newWhoamiCache(0)
		epoch, at := c.start()
		c.put("k", newSession(), false, epoch, at)
		c.invalidate(uuid.New())
		if _, _, ok := c.get("k"); ok {
			t.Fatal("a cache with TTL 0 served a lookup")
		}
	})
	// With a feed (several instances), the cache serves only while the
	// feed's last complete read is younger than the lease.
	t.Run("ServesOnlyWithinTheLease", func(t *testing.T) {
		c := newWhoamiCache(time.Hour)
		c.lease = time.Hour
		s := newSession()
		epoch, at := c.start()
		c.put("k", s, false, epoch, at)
		if _, _, ok := c.get("k"); ok {
			t.Fatal("served before the feed was ever read")
		}
		c.renewLease(time.Now())
		if _, _, ok := c.get("k"); !ok {
			t.Fatal("not served within the lease")
		}
		c.renewLease(time.Now().Add(-2 * time.Hour)) // an older read does not move it back
		if _, _, ok := c.get("k"); !ok {
			t.Fatal("lease moved backwards")
		}
		c.leaseFrom = time.Now().Add(-time.Hour)
		if _, _, ok := c.get("k"); ok {
			t.Fatal("served after the lease lapsed")
		}
	})

	t.Run("InvalidateAllDropsEveryEarlierLookup", func(t *testing.T) {
		c := newWhoamiCache(time.Hour)
		cached, racing := newSession(), newSession()
		epoch, at := c.start()
		c.put("cached", cached, false, epoch, at)
		epoch, at = c.start() // a lookup reading the database …
		c.invalidateAll()     // … when the feed gives up on what it missed
		c.put("racing", racing, false, epoch, at)
		for _, k := range []string{"cached", "racing"} {
			if _, _, ok := c.get(k); ok {
				t.Fatalf("%s served after invalidateAll", k)
			}
		}
		epoch, at = c.start()
		c.put("later", cached, false, epoch, at)
		if _, _, ok := c.get("later"); !ok {
			t.Fatal("a lookup after invalidateAll is not kept")
		}
	})
}
