package config

import (
	"fmt"
	"strings"

	"github.com/google/go-jsonnet"
)

// CheckJsonnet reports a syntax error in a Jsonnet template (a web_hook
// body), so that a broken template stops start-up instead of failing
// every call. name is the template's URI, shown in the error. Only the
// syntax is checked: what the template does with ctx shows when it runs.
func CheckJsonnet(name, template string) error {
	if _, err := jsonnet.SnippetToAST(name, template); err != nil {
		// go-jsonnet's message names the line and column; one line is
		// enough in a config error.
		msg := strings.TrimSpace(err.Error())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return fmt.Errorf("not valid Jsonnet: %s", msg)
	}
	return nil
}
