package courier

import (
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"

	"golang.org/x/text/language"

	"github.com/latchkey/latchkey/internal/i18n"
)

// Where a template comes from.
//
// Each part of a template (subject, HTML body, plaintext body) is looked
// up on its own, for each supported language, and the first place that
// has it wins:
//
//  1. the part's courier.templates URI (locale-agnostic, as in Kratos:
//     it wins over every file; it may use t and .Locale to speak the
//     mail's language);
//  2. <override>/<locale>/<group>/<validity>/ ("de", "pt-BR");
//  3. <override>/<base language>/<group>/<validity>/ when the locale has a
//     region ("pt" for pt-BR);
//  4. <override>/<group>/<validity>/, Kratos's layout;
//  5. the built-in template, whose texts come from the mail catalog of
//     the language (English for any text a language lacks).

//go:embed templates
var builtinTemplates embed.FS

// The three parts of a template and the file names that make them up: the
// main file, and siblings whose names start with the prefix (parsed with
// it so they can hold named sub-templates).
type part struct {
	file     string // main file name
	prefix   string // siblings start with this
	exclude  string // but not with this
	uriField string // TemplateURIs field, for messages
	isHTML   bool
}

var (
	partSubject = part{file: "email.subject.gotmpl", prefix: "email.subject", uriField: "email.subject"}
	partHTML    = part{file: "email.body.gotmpl", prefix: "email.body", exclude: "email.body.plaintext", uriField: "email.body.html", isHTML: true}
	partText    = part{file: "email.body.plaintext.gotmpl", prefix: "email.body.plaintext", uriField: "email.body.plaintext"}
)

// NewTemplates reads every override, and parses and tries, in every
// supported language, each template set that uses one. The error of a
// broken template names the file or URI and the line. Sets are parsed
// again on their first mail (Templates).
func NewTemplates(cfg TemplatesConfig) (*Templates, error) {
	for tt := range cfg.Overrides {
		if !slices.Contains(TemplateTypes, tt) {
			return nil, fmt.Errorf("courier.templates: unknown template type %q", tt)
		}
	}
	if cfg.OverridePath != "" {
		if st, err := os.Stat(cfg.OverridePath); err != nil {
			return nil, fmt.Errorf("courier.template_override_path: %w", err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("courier.template_override_path: %s is not a directory", cfg.OverridePath)
		}
	}

	t := &Templates{slots: map[TemplateType][]slot{}, defaultLang: i18n.For(cfg.DefaultLanguage).Tag()} // the closest supported; English when unset
	for _, tt := range TemplateTypes {
		slots := make([]slot, len(i18n.Supported))
		for i, lang := range i18n.Supported {
			srcs, err := readSet(cfg, tt, lang)
			if err != nil {
				return nil, err
			}
			if srcs.overridden() {
				p := i18n.For(lang)
				set, err := srcs.parse(p)
				if err != nil {
					return nil, err
				}
				if err := set.try(tt, p); err != nil {
					return nil, err
				}
			}
			s := &slots[i]
			s.lang, s.parts = lang, srcs
		}
		t.slots[tt] = slots
	}
	return t, nil
}

// setSources are the sources of a template set's three parts. A nil part
// is the built-in one, read from the binary when the set is parsed.
type setSources struct {
	group, validity     string
	subject, text, html []source
}

// readSet reads the overrides of a template type in lang.
func readSet(cfg TemplatesConfig, tt TemplateType, lang language.Tag) (setSources, error) {
	g, v := tt.key()
	uris := cfg.Overrides[tt]
	dirs := overrideDirs(cfg.OverridePath, lang, g, v)
	s := setSources{group: g, validity: v}
	var err error
	if s.subject, err = overrideSources(dirs, g, v, partSubject, uris.Subject); err != nil {
		return s, err
	}
	if s.text, err = overrideSources(dirs, g, v, partText, uris.BodyPlaintext); err != nil {
		return s, err
	}
	if s.html, err = overrideSources(dirs, g, v, partHTML, uris.BodyHTML); err != nil {
		return s, err
	}
	return s, nil
}

func (s setSources) overridden() bool {
	return s.subject != nil || s.text != nil || s.html != nil
}

// parse parses the three parts in the language of p.
func (s setSources) parse(p *i18n.Printer) (*templateSet, error) {
	subject, err := s.or(s.subject, partSubject)
	if err != nil {
		return nil, err
	}
	text, err := s.or(s.text, partText)
	if err != nil {
		return nil, err
	}
	html, err := s.or(s.html, partHTML)
	if err != nil {
		return nil, err
	}
	set := &templateSet{}
	if set.subject, err = parseSources(texttemplate.New(subject[0].name).Funcs(textFuncs(p)), subject); err != nil {
		return nil, err
	}
	if set.text, err = parseSources(texttemplate.New(text[0].name).Funcs(textFuncs(p)), text); err != nil {
		return nil, err
	}
	if set.html, err = parseSources(htmltemplate.New(html[0].name).Funcs(htmlFuncs(p)), html); err != nil {
		return nil, err
	}
	return set, nil
}

// or is srcs, or the built-in sources of the part when srcs is nil.
func (s setSources) or(srcs []source, pt part) ([]source, error) {
	if srcs != nil {
		return srcs, nil
	}
	return builtinSources(s.group, s.validity, pt)
}

// overrideDirs are the override directories of a template in the order
// they are tried for lang (steps 2 to 4 above); none without an override
// path.
func overrideDirs(root string, lang language.Tag, group, validity string) []string {
	if root == "" {
		return nil
	}
	locale := lang.String()
	dirs := []string{filepath.Join(root, locale, group, validity)}
	if base, _ := lang.Base(); base.String() != locale {
		dirs = append(dirs, filepath.Join(root, base.String(), group, validity))
	}
	return append(dirs, filepath.Join(root, group, validity))
}

// source is one parsed file: its name in error messages and its text.
type source struct {
	name string
	text string
}

// overrideSources finds the files of a part: a configured URI, else the
// first override directory that has the part; nil when neither has it.
// The main file comes first.
func overrideSources(dirs []string, group, validity string, p part, uri string) ([]source, error) {
	if uri != "" {
		key := configKey(group, validity, p.uriField)
		s, err := readURI(key, uri)
		if err != nil {
			return nil, err
		}
		return []source{s}, nil
	}
	for _, dir := range dirs {
		srcs, err := readDir(os.DirFS(dir), ".", p, func(name string) string { return filepath.Join(dir, name) })
		if err != nil {
			return nil, fmt.Errorf("courier.template_override_path: %w", err)
		}
		if srcs != nil {
			return srcs, nil
		}
	}
	return nil, nil
}

// builtinSources are the files of a built-in part.
func builtinSources(group, validity string, p part) ([]source, error) {
	dir := path.Join("templates", group, validity)
	srcs, err := readDir(builtinTemplates, dir, p, func(name string) string { return "builtin:" + path.Join(group, validity, name) })
	if err != nil || srcs == nil {
		return nil, fmt.Errorf("courier: built-in template %s missing: %v", path.Join(group, validity, p.file), err)
	}
	return srcs, nil
}

// readDir returns the main file of a part and its siblings, or nil when the
// main file does not exist.
func readDir(fsys fs.FS, dir string, p part, display func(string) string) ([]source, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var main *source
	var siblings []source
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, p.prefix) || (p.exclude != "" && strings.HasPrefix(name, p.exclude)) {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		s := source{name: display(name), text: string(b)}
		if name == p.file {
			main = &s
		} else {
			siblings = append(siblings, s)
		}
	}
	if main == nil {
		return nil, nil
	}
	return append([]source{*main}, siblings...), nil
}

// readURI loads a template from a file:// or base64:// URI.
func readURI(key, uri string) (source, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return source{}, fmt.Errorf("%s: %q is not a URI (use file:// or base64://)", key, shorten(uri))
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(uri)
		if err != nil {
			return source{}, fmt.Errorf("%s: %w", key, err)
		}
		p := u.Host + u.Path // file://relative/path keeps its first segment in Host
		b, err := os.ReadFile(p)
		if err != nil {
			return source{}, fmt.Errorf("%s: %w", key, err)
		}
		return source{name: p, text: string(b)}, nil
	case "base64":
		rest = strings.TrimSpace(rest)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(rest); err == nil {
				return source{name: key, text: string(b)}, nil
			}
		}
		return source{}, fmt.Errorf("%s: base64:// template is not valid base64", key)
	}
	return source{}, fmt.Errorf("%s: unsupported template URI scheme %q (use file:// or base64://)", key, scheme)
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// parseSources parses the main file (srcs[0]) into root, named after it,
// and each sibling into a template of its own name associated with root,
// for text/template and html/template alike.
func parseSources[T interface {
	New(name string) T
	Parse(text string) (T, error)
}](root T, srcs []source) (T, error) {
	for i, s := range srcs {
		t := root
		if i > 0 {
			t = root.New(s.name)
		}
		if _, err := t.Parse(s.text); err != nil {
			var none T
			return none, fmt.Errorf("courier: parse template %s: %w", s.name, err)
		}
	}
	return root, nil
}
