// Package python holds esb's Python runtime interface client. esb-rie
// embeds these files and writes them out when it runs a python3.x function:
// esb_runtime.py runs the Runtime API loop, sitecustomize.py makes older
// botocore honour AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>.
package python

import (
	"embed"
	"io/fs"
)

//go:embed esb_runtime.py sitecustomize.py
var files embed.FS

// Files returns the client's files.
func Files() fs.FS { return files }
