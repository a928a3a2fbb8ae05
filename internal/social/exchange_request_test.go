package social

import (
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/internal/flow"
)

// Only a native app's flow that asks for it gets a session token exchange.
func TestExchangeRequested(t *testing.T) {
	for _, c := range []struct {
		typ   flow.Type
		query string
		want  bool
	}{
		{flow.TypeAPI, "return_session_token_exchange_code=true", true},
		{flow.TypeAPI, "return_session_token_exchange_code=false", false},
		{flow.TypeAPI, "", false},
		{flow.TypeBrowser, "return_session_token_exchange_code=true", false},
	} {
		q, _ := url.ParseQuery(c.query)
		if got := ExchangeRequested(&flow.Request{Query: q}, &flow.Base{Type: c.typ}); got != c.want {
			t.Errorf("%s flow, %q: %v, want %v", c.typ, c.query, got, c.want)
		}
	}
}
