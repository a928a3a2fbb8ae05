package flow

import (
	"fmt"
	"strings"
	"time"
)

// Labels of the lookup_secret (backup codes) nodes.
var (
	LabelLookupReveal     = func() *Message { return label(1050007, "Reveal backup recovery codes") }
	LabelLookupRegenerate = func() *Message { return label(1050008, "Generate new backup recovery codes") }
	LabelLookupCodes      = func() *Message {
		return label(1050010, "These are your back up recovery codes. Please keep them in a safe place!")
	}
	LabelLookupConfirm = func() *Message { return label(1050011, "Confirm backup recovery codes") }
	LabelLookupDisable = func() *Message { return label(1050016, "Disable this method") }
	LabelLookupInput   = func() *Message { return label(1010007, "Backup recovery code") }
	LabelLookupLogin   = func() *Message { return label(1010010, "Use backup recovery code") }
)

// MsgLookupCode is one unused backup code in the list (1050009).
func MsgLookupCode(code string) Message {
	m := info(1050009, code)
	m.Context = map[string]any{"secret": code}
	return m
}

// MsgLookupCodeUsed stands for a spent backup code in the list (1050014).
func MsgLookupCodeUsed(usedAt time.Time) Message {
	usedAt = usedAt.UTC()
	m := info(1050014, fmt.Sprintf("Secret was used at %s", usedAt))
	m.Context = map[string]any{"used_at": usedAt, "used_at_unix": usedAt.Unix()}
	return m
}

// MsgLookupCodeList is the text of the lookup_secret_codes node (1050015):
// the codes joined by ", " ("used" for spent ones), each as its own
// message in context.secrets.
func MsgLookupCodeList(formatted []string, each []Message) Message {
	m := info(1050015, strings.Join(formatted, ", "))
	m.Context = map[string]any{"secrets": each}
	return m
}

// MsgLookupUsed: the backup code was spent before (4000012).
func MsgLookupUsed() Message {
	return fail(4000012, "This backup recovery code has already been used.")
}

// MsgLookupNone: the identity has no backup codes (4000014).
func MsgLookupNone() Message { return fail(4000014, "You have no backup recovery codes set up.") }

// MsgLookupInvalid: no backup code of the identity is the one typed (4000016).
func MsgLookupInvalid() Message { return fail(4000016, "The backup recovery code is not valid.") }
