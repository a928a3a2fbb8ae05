package httpx

import (
	"net/http"
	"strconv"
	"strings"
)

// IsJSONRequest decides whether a flow submission is answered with JSON
// (SPA or native) rather than redirects: Accept negotiates JSON over HTML, or
// the body is declared as exactly application/json.
func IsJSONRequest(r *http.Request) bool {
	if r.Header.Get("Content-Type") == "application/json" {
		return true
	}
	return negotiate(r.Header.Get("Accept"), []string{"text/html", "text/*", "*/*", "application/json"}, "text/html") == "application/json"
}

// AcceptsJSON decides how flow initialisation and error forwarding answer a
// browser: JSON only when Accept prefers it over HTML.
func AcceptsJSON(r *http.Request) bool {
	return negotiate(r.Header.Get("Accept"), []string{"text/html", "application/json"}, "text/html") == "application/json"
}

type acceptSpec struct {
	value string
	q     float64
}

func parseAccept(h string) []acceptSpec {
	var specs []acceptSpec
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		fields := strings.Split(part, ";")
		spec := acceptSpec{value: strings.ToLower(strings.TrimSpace(fields[0])), q: 1}
		for _, p := range fields[1:] {
			p = strings.TrimSpace(p)
			if strings.HasPrefix(p, "q=") {
				if q, err := strconv.ParseFloat(p[2:], 64); err == nil {
					spec.q = q
				}
			}
		}
		specs = append(specs, spec)
	}
	return specs
}

// negotiate picks the best offer: highest q, then the most specific match
// (exact beats type/* beats */*), then the earlier offer.
func negotiate(accept string, offers []string, def string) string {
	specs := parseAccept(accept)
	if len(specs) == 0 {
		return def
	}
	best, bestQ, bestWild := "", -1.0, 3
	for _, offer := range offers {
		for _, s := range specs {
			if s.q == 0 {
				continue
			}
			wild := -1
			switch {
			case s.value == "*/*":
				wild = 2
			case strings.HasSuffix(s.value, "/*") && strings.HasPrefix(offer, s.value[:len(s.value)-1]):
				wild = 1
			case s.value == offer:
				wild = 0
			}
			if wild < 0 {
				continue
			}
			if s.q > bestQ || (s.q == bestQ && wild < bestWild) {
				best, bestQ, bestWild = offer, s.q, wild
			}
		}
	}
	if best == "" {
		return def
	}
	return best
}
