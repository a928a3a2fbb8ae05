package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

//go:embed locales
var localeFiles embed.FS

// text is one catalog entry: a plain text, or the forms of a counted one.
type text struct {
	Plain string
	One   string
	Other string
}

func (t *text) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &t.Plain)
	}
	var forms struct {
		One   string `json:"one"`
		Other string `json:"other"`
	}
	if err := json.Unmarshal(b, &forms); err != nil {
		return err
	}
	if forms.Other == "" {
		return fmt.Errorf("a counted text needs an \"other\" form")
	}
	t.One, t.Other = forms.One, forms.Other
	return nil
}

// catalogs holds every supported language's texts, loaded once.
var catalogs = mustLoad(localeFiles)

func mustLoad(fsys fs.FS) map[language.Tag]map[string]text {
	out, err := load(fsys)
	if err != nil {
		panic("i18n: " + err.Error())
	}
	return out
}

// load reads locales/<locale>/*.json for every supported language.
func load(fsys fs.FS) (map[language.Tag]map[string]text, error) {
	out := map[language.Tag]map[string]text{}
	for _, tag := range Supported {
		dir := path.Join("locales", tag.String())
		texts := map[string]text{}
		files, err := fs.Glob(fsys, dir+"/*.json")
		if err != nil {
			return nil, err
		}
		for _, name := range files {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return nil, err
			}
			var file map[string]text
			if err := json.Unmarshal(b, &file); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for k, v := range file {
				if _, dup := texts[k]; dup {
					return nil, fmt.Errorf("%s: %q is defined twice for %s", name, k, tag)
				}
				texts[k] = v
			}
		}
		out[tag] = texts
	}
	return out, nil
}

// Keys lists the keys of a language's own texts (without the English
// fallback), sorted; tests use it to find untranslated texts.
func Keys(tag language.Tag) []string {
	var keys []string
	for k := range catalogs[tag] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Counted reports whether the English text of key has count forms.
func Counted(key string) bool {
	t, ok := catalogs[language.English][key]
	return ok && t.Other != ""
}

// fill replaces each {name} in s with its value from args, given as
// name, value pairs. A placeholder without a value is left as it is, so a
// missing argument shows rather than vanishes.
func fill(s string, args []any) string {
	if len(args) == 0 || !strings.Contains(s, "{") {
		return s
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}
