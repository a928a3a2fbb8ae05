package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

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

// catalog is one language's texts, read from locales/ on first use: a
// server whose pages and mails are all English never reads the others.
type catalog struct {
	tag   language.Tag
	once  sync.Once
	texts map[string]text
}

func (c *catalog) get() map[string]text {
	c.once.Do(func() {
		texts, err := loadLanguage(localeFiles, c.tag)
		if err != nil {
			// The files are part of the binary, and the tests read every
			// language (TestEveryLanguageHasEveryText).
			panic("i18n: " + err.Error())
		}
		c.texts = texts
	})
	return c.texts
}

// catalogs holds the catalog of every supported language.
var catalogs = func() map[language.Tag]*catalog {
	out := map[language.Tag]*catalog{}
	for _, tag := range Supported {
		out[tag] = &catalog{tag: tag}
	}
	return out
}()

// loadLanguage reads locales/<locale>/*.json of one language.
func loadLanguage(fsys fs.FS, tag language.Tag) (map[string]text, error) {
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
	return texts, nil
}

// Keys lists the keys of a language's own texts (without the English
// fallback), sorted; tests use it to find untranslated texts.
func Keys(tag language.Tag) []string {
	var keys []string
	for k := range catalogs[tag].get() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Counted reports whether the English text of key has count forms.
func Counted(key string) bool {
	t, ok := catalogs[language.English].get()[key]
	return ok && t.Other != ""
}

// fill replaces each {name} in s with its value from args, given as
// name, value pairs (names have no braces). A placeholder without a value is left as it is, so a
// missing argument shows rather than vanishes.
//
// It scans s once (every mail fills several texts; a strings.Replacer
// built per call was a tenth of the bytes an admin code allocated).
// Like a Replacer, it replaces left to right, never inside a value it
// put in, and the first pair of a repeated name wins.
func fill(s string, args []any) string {
	open := strings.IndexByte(s, '{')
	if len(args) < 2 || open < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for open >= 0 {
		b.WriteString(s[:open])
		s = s[open:]
		end := strings.IndexByte(s[1:], '}')
		if end < 0 {
			break
		}
		value, ok := argument(s[1:1+end], args)
		if !ok {
			// Not a placeholder we have: keep the brace and look again
			// from the next byte ("{{a}}" fills the inner "{a}").
			b.WriteByte('{')
			s = s[1:]
		} else {
			b.WriteString(value)
			s = s[end+2:]
		}
		open = strings.IndexByte(s, '{')
	}
	b.WriteString(s)
	return b.String()
}

// argument is the value of name in args (name, value pairs).
func argument(name string, args []any) (string, bool) {
	for i := 0; i+1 < len(args); i += 2 {
		if str(args[i]) == name {
			return str(args[i+1]), true
		}
	}
	return "", false
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}
