// Package node holds esb's Node.js runtime interface client. esb-rie embeds
// it and writes it out when it runs a nodejs*.x function.
package node

import (
	"embed"
	"io/fs"
)

//go:embed esb-runtime.cjs
var files embed.FS

// Files returns the client's files.
func Files() fs.FS { return files }
