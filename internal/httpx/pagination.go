package httpx

import (
	"net/http"
	"net/url"
	"strconv"
)

// PageLinks is the Link header of a keyset-paginated admin list, as
// Kratos writes it: the first page and, when there is one, the next,
// each keeping the request's other query parameters. page_size is always
// named (defaultSize when the request gave none); Kratos's deprecated
// page and per_page are dropped.
func PageLinks(r *http.Request, defaultSize int, next string) string {
	link := func(token, rel string) string {
		u := url.URL{Path: r.URL.Path}
		q := r.URL.Query()
		q.Del("page")
		q.Del("per_page")
		if q.Get("page_size") == "" {
			q.Set("page_size", strconv.Itoa(defaultSize))
		}
		q.Del("page_token")
		if token != "" {
			q.Set("page_token", token)
		}
		u.RawQuery = q.Encode()
		return "<" + u.String() + `>; rel="` + rel + `"`
	}
	out := link("", "first")
	if next != "" {
		out += "," + link(next, "next")
	}
	return out
}
