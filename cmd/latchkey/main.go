// Command latchkey is a single-binary identity server that speaks the Ory
// Kratos HTTP API. See README.md.
package main

import (
	"os"

	"github.com/latchkey/latchkey/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:]))
}
