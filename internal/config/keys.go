package config

import (
	"reflect"
	"strings"
	"sync"
	"time"
)

// keySet describes every key Latchkey reads. It is derived once from the
// `key` tags of Config, so the struct is the only list of keys: decoding,
// environment variable names and unknown-key warnings all come from it.
type keySet struct {
	leaves []*leaf          // in struct order
	byPath map[string]*leaf // "serve.public.port"
	byEnv  map[string]*leaf // "SERVE_PUBLIC_PORT"
	groups map[string]bool  // every proper prefix of a leaf path: "serve", "serve.public"
	paths  []string         // every leaf and group path: what an unknown key may have meant
}

// leaf is one key holding a value (a scalar, a list or a free-form map).
type leaf struct {
	path  string
	index []int // reflect field index path from Config
	typ   reflect.Type
}

// structured reports whether the key takes a list or an object, which an
// environment variable spells as JSON.
func (l *leaf) structured() bool {
	k := l.typ.Kind()
	return k == reflect.Slice || k == reflect.Map
}

// envName is the Kratos environment variable for a key path.
func envName(path string) string {
	return strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

var (
	durationType     = reflect.TypeFor[time.Duration]()
	byteSizeType     = reflect.TypeFor[ByteSize]()
	mapStringAnyType = reflect.TypeFor[map[string]any]()
)

var keys = sync.OnceValue(func() *keySet {
	s := &keySet{byPath: map[string]*leaf{}, byEnv: map[string]*leaf{}, groups: map[string]bool{}}
	s.walk(reflect.TypeFor[Config](), "", nil)
	for _, lf := range s.leaves {
		s.byPath[lf.path] = lf
		env := envName(lf.path)
		if other, dup := s.byEnv[env]; dup {
			panic("config: keys " + other.path + " and " + lf.path + " share the variable " + env)
		}
		s.byEnv[env] = lf
		for i := range len(lf.path) {
			if lf.path[i] == '.' {
				s.groups[lf.path[:i]] = true
			}
		}
		s.paths = append(s.paths, lf.path)
	}
	for g := range s.groups {
		s.paths = append(s.paths, g)
	}
	return s
})

// walk records the leaves below struct type t. Struct fields are groups of
// keys; every other field type is a leaf. Fields without a key tag (Dev)
// are not configuration keys.
func (s *keySet) walk(t reflect.Type, prefix string, index []int) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := f.Tag.Lookup("key")
		if !ok || !f.IsExported() {
			continue
		}
		path := prefix + name
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct {
			s.walk(f.Type, path+".", idx)
			continue
		}
		s.leaves = append(s.leaves, &leaf{path: path, index: idx, typ: f.Type})
	}
}

// underLeaf reports whether key lies inside a leaf's value, such as
// courier.smtp.headers.X-Mailer.
func (s *keySet) underLeaf(key string) bool {
	for i := range len(key) {
		if key[i] == '.' {
			if _, ok := s.byPath[key[:i]]; ok {
				return true
			}
		}
	}
	return false
}

// shallowestUnknown is the shortest prefix of key that is neither a group
// nor a leaf: the level at which an unknown key is reported.
func (s *keySet) shallowestUnknown(key string) string {
	for i := range len(key) {
		if key[i] == '.' && !s.groups[key[:i]] {
			if _, ok := s.byPath[key[:i]]; !ok {
				return key[:i]
			}
		}
	}
	return key
}

// structKeys maps the key tags of a list element type (Hook,
// IdentitySchema) to field indexes.
func structKeys(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		if name, ok := t.Field(i).Tag.Lookup("key"); ok {
			out[name] = i
		}
	}
	return out
}
