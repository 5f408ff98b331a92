package sam

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCompile feeds arbitrary bytes to the parser and the compiler: they must
// never panic, and every failure must be a one-line *Error. The seed corpus is
// testdata/fuzz/FuzzCompile (templates of the tests and examples); run
//
//	go test ./internal/sam -run '^$' -fuzz FuzzCompile -fuzztime 60s
//
// to search further.
func FuzzCompile(f *testing.F) {
	f.Add([]byte("Resources:\n  B:\n    Type: AWS::S3::Bucket\n"))
	f.Add([]byte("Resources: {F: {Type: AWS::Serverless::Function, Properties: {CodeUri: code, Handler: a.b, Runtime: python3.12, Environment: {Variables: {X: !Sub '${AWS::Region}'}}}}}"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("Conditions: {A: !Condition A}\nResources: {B: {Type: AWS::S3::Bucket, Condition: A}}"))
	dir := f.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "code"), 0o755); err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, "template.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := Parse("template.yaml", data)
		if err != nil {
			checkOneLine(t, err)
			return
		}
		res, err := CompileTemplate(tpl, Options{TemplatePath: path, Parameters: map[string]string{"Stage": "dev"}})
		if err != nil {
			checkOneLine(t, err)
			return
		}
		for _, w := range res.Warnings {
			if strings.Contains(w.String(), "\n") {
				t.Fatalf("warning is not one line: %q", w.String())
			}
		}
	})
}

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q (%T) is not a *sam.Error", err, err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is not one line: %q", err)
	}
}
