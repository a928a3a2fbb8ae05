package flow

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// A flow's JSON is written by hand, as json.Marshal would write the same
// structs (key order, omitted fields, HTML-escaped strings): creating a
// flow writes it twice (the record, the answer), and through json.Marshal
// each node's attributes were marshalled on their own and every
// MarshalJSON's output validated again (encoding/json's compact), a tenth
// of the CPU a flow took (docs/benchmarks-history.md). Values of no fixed type
// (an input's value, a message's context) still go through json.Marshal.

// JSONObject writes one JSON object member by member.
type JSONObject struct {
	b    []byte
	more bool
	err  error
}

// NewJSONObject starts an object at the end of b.
func NewJSONObject(b []byte) *JSONObject { return &JSONObject{b: append(b, '{')} }

// End closes the object and returns the buffer, or the first error a
// member met.
func (o *JSONObject) End() ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	return append(o.b, '}'), nil
}

// Key starts a member (keys are constants: they are not escaped).
func (o *JSONObject) Key(k string) {
	if o.more {
		o.b = append(o.b, ',')
	}
	o.more = true
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

// String writes a string member.
func (o *JSONObject) String(k, v string) {
	o.Key(k)
	o.b = appendJSONString(o.b, v)
}

// StringOmitEmpty writes a string member unless v is empty (omitempty).
func (o *JSONObject) StringOmitEmpty(k, v string) {
	if v != "" {
		o.String(k, v)
	}
}

// Bool writes a boolean member.
func (o *JSONObject) Bool(k string, v bool) {
	o.Key(k)
	o.b = strconv.AppendBool(o.b, v)
}

// Int writes a number member.
func (o *JSONObject) Int(k string, v int) {
	o.Key(k)
	o.b = strconv.AppendInt(o.b, int64(v), 10)
}

// UUID writes a UUID member.
func (o *JSONObject) UUID(k string, id uuid.UUID) {
	o.Key(k)
	o.b = append(o.b, '"')
	o.b = appendUUID(o.b, id)
	o.b = append(o.b, '"')
}

// Time writes a time member as time.Time.MarshalJSON does (RFC 3339
// with nanoseconds).
func (o *JSONObject) Time(k string, t time.Time) {
	o.Key(k)
	o.b, o.err = appendJSONTime(o.b, t, o.err)
}

// UI writes a flow's UI container.
func (o *JSONObject) UI(k string, c *Container) {
	o.Key(k)
	o.b, o.err = c.appendJSON(o.b, o.err)
}

// Value writes v as json.Marshal does.
func (o *JSONObject) Value(k string, v any) {
	o.Key(k)
	o.b, o.err = appendJSONValue(o.b, v, o.err)
}

// RawOmitEmpty writes raw JSON (compacted, as json.Marshal writes a
// json.RawMessage) unless it is empty.
func (o *JSONObject) RawOmitEmpty(k string, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	o.Value(k, raw)
}

// appendJSON writes the container as its struct tags say.
func (c *Container) appendJSON(b []byte, err error) ([]byte, error) {
	o := JSONObject{b: append(b, '{'), err: err}
	o.String("action", c.Action)
	o.String("method", c.Method)
	o.Key("nodes")
	if c.Nodes == nil {
		o.b = append(o.b, "null"...)
	} else {
		o.b = append(o.b, '[')
		for i := range c.Nodes {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b, o.err = c.Nodes[i].appendJSON(o.b, o.err)
		}
		o.b = append(o.b, ']')
	}
	if len(c.Messages) > 0 {
		o.Key("messages")
		o.b, o.err = appendMessages(o.b, c.Messages, o.err)
	}
	return append(o.b, '}'), o.err
}

// MarshalJSON writes the container (see appendJSON).
func (c Container) MarshalJSON() ([]byte, error) { return c.appendJSON(nil, nil) }

func (n *Node) appendJSON(b []byte, err error) ([]byte, error) {
	o := JSONObject{b: append(b, '{'), err: err}
	o.String("type", n.Type)
	o.String("group", n.Group)
	o.Key("attributes")
	o.b, o.err = n.Attributes.appendJSON(o.b, o.err)
	o.Key("messages")
	if n.Messages == nil {
		o.b = append(o.b, "null"...)
	} else {
		o.b, o.err = appendMessages(o.b, n.Messages, o.err)
	}
	o.Key("meta")
	o.b = append(o.b, '{')
	if n.Meta.Label != nil {
		o.b = append(o.b, `"label":`...)
		o.b, o.err = n.Meta.Label.appendJSON(o.b, o.err)
	}
	o.b = append(o.b, '}')
	return append(o.b, '}'), o.err
}

// appendJSON writes the attributes in the shape of the node's type (see
// imageAttributes, textAttributes, anchorAttributes, Attributes).
func (a *Attributes) appendJSON(b []byte, err error) ([]byte, error) {
	o := JSONObject{b: append(b, '{'), err: err}
	switch a.NodeType {
	case "img":
		o.String("src", a.Src)
		o.String("id", a.ID)
		o.Int("width", a.Width)
		o.Int("height", a.Height)
	case "text", "a":
		if a.NodeType == "a" {
			o.String("href", a.Href)
			o.Key("title")
		} else {
			o.Key("text")
		}
		if a.Text == nil {
			o.b = append(o.b, "null"...)
		} else {
			o.b, o.err = a.Text.appendJSON(o.b, o.err)
		}
		o.String("id", a.ID)
	default:
		o.String("name", a.Name)
		o.String("type", a.Type)
		if a.Value != nil {
			o.Value("value", a.Value)
		}
		if a.Required {
			o.Bool("required", true)
		}
		o.StringOmitEmpty("autocomplete", a.Autocomplete)
		o.StringOmitEmpty("label", a.Label)
		o.StringOmitEmpty("pattern", a.Pattern)
		o.Bool("disabled", a.Disabled)
		if a.MaxLength != 0 {
			o.Int("maxlength", a.MaxLength)
		}
	}
	o.String("node_type", a.NodeType)
	return append(o.b, '}'), o.err
}

func appendMessages(b []byte, ms []Message, err error) ([]byte, error) {
	b = append(b, '[')
	for i := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b, err = ms[i].appendJSON(b, err)
	}
	return append(b, ']'), err
}

func (m *Message) appendJSON(b []byte, err error) ([]byte, error) {
	o := JSONObject{b: append(b, '{'), err: err}
	o.Int("id", m.ID)
	o.String("text", m.Text)
	o.String("type", m.Type)
	if len(m.Context) > 0 {
		o.Value("context", m.Context)
	}
	return append(o.b, '}'), o.err
}

// appendJSONValue appends v as json.Marshal writes it; strings, the
// usual value of an input, directly.
func appendJSONValue(b []byte, v any, err error) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendJSONString(b, v), err
	case bool:
		return strconv.AppendBool(b, v), err
	}
	raw, mErr := json.Marshal(v)
	if mErr != nil && err == nil {
		err = mErr
	}
	return append(b, raw...), err
}

func appendJSONTime(b []byte, t time.Time, err error) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		if err == nil {
			err = errors.New("Time.MarshalJSON: year outside of range [0,9999]")
		}
		return b, err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), err
}

// appendUUID appends id's canonical text form (uuid.UUID.String).
func appendUUID(b []byte, id uuid.UUID) []byte {
	var buf [36]byte
	hex.Encode(buf[0:8], id[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], id[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], id[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], id[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], id[10:])
	return append(b, buf[:]...)
}

// appendJSONString appends s as a JSON string escaped as json.Marshal
// escapes it (HTML characters included, as every flow answer has been).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
