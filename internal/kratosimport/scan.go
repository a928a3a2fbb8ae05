package kratosimport

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/sqlstore"
)

// The three databases hand the same Kratos column back in different Go
// types (SQLite keeps times as text and booleans as numbers, MySQL
// returns bytes, PostgreSQL native types), so columns are read through
// these scanners rather than the driver's conversions.

// nullText is a text, JSON or UUID column that may be NULL.
type nullText struct {
	s     string
	valid bool
}

func (t *nullText) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*t = nullText{}
	case string:
		*t = nullText{x, true}
	case []byte:
		*t = nullText{string(x), true}
	case [16]byte: // a uuid some drivers hand back raw
		*t = nullText{fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16]), true}
	default:
		return fmt.Errorf("cannot read %T as text", v)
	}
	return nil
}

func (t nullText) bytes() []byte {
	if !t.valid {
		return nil
	}
	return []byte(t.s)
}

// nullTime is a timestamp column that may be NULL.
type nullTime struct {
	t     time.Time
	valid bool
}

// Layouts Kratos's SQLite rows use ("2026-12-02 11:56:10.486496+00:00")
// and the plain forms a MySQL DSN without parseTime returns.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

func (t *nullTime) Scan(v any) error {
	var s string
	switch x := v.(type) {
	case nil:
		*t = nullTime{}
		return nil
	case time.Time:
		*t = nullTime{x.UTC(), true}
		return nil
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return fmt.Errorf("cannot read %T as a time", v)
	}
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if p, err := time.Parse(layout, s); err == nil {
			*t = nullTime{p.UTC(), true}
			return nil
		}
	}
	return fmt.Errorf("cannot read %q as a time", s)
}

// ptr is the time, or nil when NULL.
func (t nullTime) ptr() *time.Time {
	if !t.valid {
		return nil
	}
	v := sqlstore.Time(t.t)
	return &v
}

// flexBool is a boolean column: bool, 0/1, "true"/"false", "t"/"f".
type flexBool bool

func (b *flexBool) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*b = false
	case bool:
		*b = flexBool(x)
	case int64:
		*b = x != 0
	case float64:
		*b = x != 0
	case string, []byte:
		s := strings.ToLower(strings.TrimSpace(fmt.Sprint(textOf(x))))
		switch s {
		case "1", "t", "true", "y", "yes":
			*b = true
		case "0", "f", "false", "n", "no", "":
			*b = false
		default:
			if n, err := strconv.ParseFloat(s, 64); err == nil {
				*b = n != 0
				return nil
			}
			return fmt.Errorf("cannot read %q as a boolean", s)
		}
	default:
		return fmt.Errorf("cannot read %T as a boolean", v)
	}
	return nil
}

func textOf(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v.(string)
}
