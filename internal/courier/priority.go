package courier

import "strings"

// Priority orders the queue: due messages of a lower value are claimed
// before those of a higher one; within one priority the order is the
// order of old (due first, oldest due first). A message keeps its
// priority for life, retries included.
type Priority int

// The priorities. PriorityInteractive is 0 because 0 is the column
// default: rows queued before priorities existed, and rows written by an
// instance still running an older version during an upgrade, are claimed
// as they were, never behind notifications.
const (
	// PriorityInteractive: someone is waiting for this mail right now
	// (a code or link to type or click).
	PriorityInteractive Priority = 0
	// PriorityBulk: mail nobody waits for, the security notifications.
	PriorityBulk Priority = 1
)

// PriorityOf is the priority of messages of template type t: bulk for the
// security notifications (security_*), interactive for everything else —
// recovery and verification codes and links, valid or not, and the
// internal messages, which become exactly those mails (prepare.go): the
// person who submitted a recovery form waits for the code through them.
//
// An admin issuing recovery codes in bulk queues thousands of
// security_admin_recovery_issued notifications at once; as bulk mail they
// no longer delay anyone's code. Notifications are not starved: they go
// out whenever no interactive mail is due, and interactive mail arrives
// one person at a time (rate-limited per address and client), while a
// burst of notifications ends.
func PriorityOf(t TemplateType) Priority {
	if strings.HasPrefix(string(t), "security_") {
		return PriorityBulk
	}
	return PriorityInteractive
}
