package oidc

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Claims are what a provider says about the user, with Kratos's JSON keys:
// the object a mapper sees as std.extVar('claims').
type Claims struct {
	Issuer              string `json:"iss,omitempty"`
	Subject             string `json:"sub,omitempty"`
	Name                string `json:"name,omitempty"`
	GivenName           string `json:"given_name,omitempty"`
	FamilyName          string `json:"family_name,omitempty"`
	LastName            string `json:"last_name,omitempty"`
	MiddleName          string `json:"middle_name,omitempty"`
	Nickname            string `json:"nickname,omitempty"`
	PreferredUsername   string `json:"preferred_username,omitempty"`
	Profile             string `json:"profile,omitempty"`
	Picture             string `json:"picture,omitempty"`
	Website             string `json:"website,omitempty"`
	Email               string `json:"email,omitempty"`
	EmailVerified       bool   `json:"email_verified,omitempty"`
	Gender              string `json:"gender,omitempty"`
	Birthdate           string `json:"birthdate,omitempty"`
	Zoneinfo            string `json:"zoneinfo,omitempty"`
	Locale              string `json:"locale,omitempty"`
	PhoneNumber         string `json:"phone_number,omitempty"`
	PhoneNumberVerified bool   `json:"phone_number_verified,omitempty"`
	UpdatedAt           int64  `json:"updated_at,omitempty"`
	HD                  string `json:"hd,omitempty"`
	Team                string `json:"team,omitempty"`
	// RawClaims is everything the provider sent (the ID token's payload,
	// GitHub's /user object).
	RawClaims map[string]any `json:"raw_claims,omitempty"`
}

// claimsFrom reads the standard claims out of a decoded JSON object.
// Providers disagree on types (Apple sends email_verified as "true",
// LinkedIn sends locale as an object), so each value is read leniently
// and a value of an unexpected type is left empty rather than failing the
// sign-in.
func claimsFrom(raw map[string]any) *Claims {
	s := func(key string) string {
		switch v := raw[key].(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		}
		return ""
	}
	return &Claims{
		Issuer:              s("iss"),
		Subject:             s("sub"),
		Name:                s("name"),
		GivenName:           s("given_name"),
		FamilyName:          s("family_name"),
		LastName:            s("last_name"),
		MiddleName:          s("middle_name"),
		Nickname:            s("nickname"),
		PreferredUsername:   s("preferred_username"),
		Profile:             s("profile"),
		Picture:             s("picture"),
		Website:             s("website"),
		Email:               s("email"),
		EmailVerified:       lenientBool(raw["email_verified"]),
		Gender:              s("gender"),
		Birthdate:           s("birthdate"),
		Zoneinfo:            s("zoneinfo"),
		Locale:              locale(raw["locale"]),
		PhoneNumber:         s("phone_number"),
		PhoneNumberVerified: lenientBool(raw["phone_number_verified"]),
		UpdatedAt:           lenientInt(raw["updated_at"]),
		HD:                  s("hd"),
		Team:                s("team"),
		RawClaims:           raw,
	}
}

// decodeObject decodes a JSON object keeping numbers exact (a 64-bit
// GitHub id or updated_at must not pass through float64).
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	return raw, nil
}

func lenientBool(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		b, _ := strconv.ParseBool(v)
		return b
	}
	return false
}

func lenientInt(v any) int64 {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		if f, err := v.Float64(); err == nil {
			return int64(f)
		}
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// locale reads a locale string, or LinkedIn's {language, country} object
// as "language-country", as Kratos does.
func locale(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		lang, _ := v["language"].(string)
		country, _ := v["country"].(string)
		switch {
		case lang == "":
			return country
		case country == "":
			return lang
		}
		return lang + "-" + country
	}
	return ""
}
