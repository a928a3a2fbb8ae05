package hook

import (
	"errors"
	"testing"
)

// FuzzReadAnswer feeds a hook's answer (status and body) to every kind
// of web_hook: it never panics, and the outcome is a success with or
// without changes, an interruption with at least one message, or a
// failure.
func FuzzReadAnswer(f *testing.F) {
	f.Add(200, []byte(`{"identity":{"traits":{"email":"a@example.test"},"metadata_public":{"a":1},"external_id":"x","state":"inactive"}}`))
	f.Add(200, []byte(`{"identity":{"verifiable_addresses":[{"value":"a@example.test","verified":true,"via":"email","status":"completed"}]}}`))
	f.Add(200, []byte(`{"identity":null}`))
	f.Add(200, []byte(``))
	f.Add(204, []byte(`garbage`))
	f.Add(400, []byte(`{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":1,"text":"no","type":"error","context":{"a":1}}]}]}`))
	f.Add(422, []byte(`{"messages":[{"instance_ptr":"#/","messages":[{"id":1,"text":"no","type":"info","context":[1]}]}]}`))
	f.Add(400, []byte(`{"messages":[]}`))
	f.Add(503, []byte(`{}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, h := range []*WebHook{{}, {Parse: true}, {CanInterrupt: true}} {
			ch, outcome, err := readAnswer(h, status, body, true)
			var in *Interrupted
			switch outcome {
			case outcomeOK:
				if err != nil {
					t.Fatalf("ok with an error: %v", err)
				}
				if ch != nil && !h.Parse {
					t.Fatal("a hook that does not parse changed the identity")
				}
			case outcomeInterrupted:
				if !errors.As(err, &in) || len(in.Messages) == 0 || !h.Parses() {
					t.Fatalf("interrupted by %+v: %v", h, err)
				}
			case outcomeFailed:
				if err == nil || ch != nil {
					t.Fatalf("failed without an error: %v", ch)
				}
			default:
				t.Fatalf("outcome %q", outcome)
			}
		}
	})
}
