package sam

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// BenchmarkCompile measures compiling the full-stack example (parse, resolve,
// manifests) next to its baseline, a plain yaml.v3 parse of the same bytes
// into a yaml.Node, measured in the same run:
//
//	go test ./internal/sam -run '^$' -bench . -benchmem
func BenchmarkCompile(b *testing.B) {
	path := filepath.Join("..", "..", "examples", "full-stack", "template.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-yaml-node", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var n yaml.Node
			if err := yaml.Unmarshal(data, &n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse("template.yaml", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			t, err := Parse("template.yaml", data)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := CompileTemplate(t, Options{TemplatePath: path}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
