package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MaxBodyBytes bounds every request body (1 MiB) unless a handler says
// otherwise (DecodeJSONStrictLimit).
const MaxBodyBytes = 1 << 20

// ErrBodyTooLarge is returned when a body exceeds MaxBodyBytes.
var ErrBodyTooLarge = &Error{Code: http.StatusRequestEntityTooLarge, Reason: "The request body exceeds the maximum size of 1 MiB.", Message: MsgTooLarge}

// ReadBody reads the whole body, of at most MaxBodyBytes.
func ReadBody(r *http.Request) ([]byte, error) { return readBody(r, MaxBodyBytes) }

func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			if limit == MaxBodyBytes {
				return nil, ErrBodyTooLarge
			}
			return nil, ErrBodyTooLarge.WithReason("The request body exceeds the maximum size of %d MiB.", limit>>20)
		}
		return nil, ErrBadRequest("Unable to read the request body: " + err.Error())
	}
	return b, nil
}

// DecodeJSONStrict decodes a JSON body of at most MaxBodyBytes into v,
// rejecting unknown fields, trailing data and non-JSON content types
// (admin APIs are strict).
func DecodeJSONStrict(r *http.Request, v any) error {
	return DecodeJSONStrictLimit(r, v, MaxBodyBytes)
}

// DecodeJSONStrictLimit is DecodeJSONStrict for a body of at most limit
// bytes.
func DecodeJSONStrictLimit(r *http.Request, v any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return &Error{Code: http.StatusUnsupportedMediaType, Reason: "Content-Type must be application/json, got " + strconv.Quote(ct) + ".", Message: MsgUnsupported}
		}
	}
	b, err := readBody(r, limit)
	if err != nil {
		return err
	}
	return UnmarshalStrict(b, v)
}

// UnmarshalStrict decodes b into v as the admin APIs decode bodies:
// unknown fields and trailing data are 400s. Commands that read the same
// documents from files use it too, so they fail with the same messages.
func UnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if err == io.EOF {
			return ErrBadRequest("Unable to decode JSON payload: the request body is empty.")
		}
		return ErrBadRequest("Unable to decode JSON payload: " + err.Error())
	}
	if dec.More() {
		return ErrBadRequest("Unable to decode JSON payload: unexpected data after the JSON value.")
	}
	return nil
}

// IsJSONContent reports whether the request body is declared as JSON.
func IsJSONContent(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// FormBody is a self-service submission read from the query string and a
// JSON or form-encoded body, flattened to dotted keys ("traits.email").
// JSON values that are objects are also kept whole under their key in Raw.
type FormBody struct {
	Values url.Values
	Raw    map[string]json.RawMessage
	JSON   bool
}

// Get returns the first value of key from the body, then the query.
func (f *FormBody) Get(key string) string { return f.Values.Get(key) }

// Has reports whether key was sent at all.
func (f *FormBody) Has(key string) bool { _, ok := f.Values[key]; return ok }

// ErrUndecodableJSON is what Kratos says for a body that is not JSON.
var ErrUndecodableJSON = ErrBadRequest("Unable to decode form as JSON.")

// DecodeForm reads a self-service submission (JSON or urlencoded body plus the
// query string). Body values win over query values.
func DecodeForm(r *http.Request) (*FormBody, error) {
	fb := &FormBody{Values: url.Values{}, Raw: map[string]json.RawMessage{}}
	for k, v := range r.URL.Query() {
		fb.Values[k] = append([]string(nil), v...)
	}
	b, err := ReadBody(r)
	if err != nil {
		return nil, err
	}
	if IsJSONContent(r) {
		fb.JSON = true
		if len(strings.TrimSpace(string(b))) == 0 {
			return fb, nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, ErrUndecodableJSON.WithCause(err)
		}
		for k, raw := range m {
			fb.Raw[k] = raw
			flattenJSON(fb.Values, k, raw)
		}
		return fb, nil
	}
	vals, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, ErrBadRequest("Unable to parse the form body: " + err.Error())
	}
	for k, v := range vals {
		fb.Values[k] = v
	}
	return fb, nil
}

func flattenJSON(out url.Values, prefix string, raw json.RawMessage) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return
	}
	flattenValue(out, prefix, v)
}

func flattenValue(out url.Values, prefix string, v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			flattenValue(out, prefix+"."+k, c)
		}
	case string:
		out.Set(prefix, t)
	case nil:
		out.Set(prefix, "")
	case bool:
		out.Set(prefix, strconv.FormatBool(t))
	case float64:
		out.Set(prefix, strconv.FormatFloat(t, 'f', -1, 64))
	default:
		b, _ := json.Marshal(t)
		out.Set(prefix, string(b))
	}
}
