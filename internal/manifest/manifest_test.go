package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := Functions{Functions: map[string]Function{
		"hello": {
			Image: "esb-hello:latest", Runtime: "python3.12", Handler: "app.handler",
			Timeout: 3, MemorySize: 128, Environment: map[string]string{"A": "b"},
			Layers:  []Layer{{Name: "Shared", ContentURI: "layers/shared"}},
			Scaling: Scaling{MaxCapacity: 5, MinCapacity: 1},
			Events:  []Event{{Name: "Api", Type: "Api", Path: "/hello", Method: "get"}},
		},
	}}
	path := filepath.Join(dir, "config", FunctionsFile)
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	var got Functions
	if err := Load(path, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	// No temporary file is left beside the manifest.
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after Save, want 1", len(entries))
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	var r Routing
	err := Load(filepath.Join(dir, RoutingFile), &r)
	if err == nil || !strings.Contains(err.Error(), "run `esb build` first") {
		t.Errorf("missing file: %v, want a hint to run esb build", err)
	}
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("routes:\n  - path: /x\n    metod: get\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Load(bad, &r)
	if err == nil || !strings.Contains(err.Error(), "metod") || !strings.Contains(err.Error(), bad) {
		t.Errorf("unknown field: %v, want the file and the field named", err)
	}
}
