package cni

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fakePlugins(t *testing.T) string {
	dir := t.TempDir()
	for _, p := range requiredPlugins {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNewWritesConfList(t *testing.T) {
	conf := t.TempDir()
	n, err := New(Config{Subnet: "10.99.0.0/24", PluginDir: fakePlugins(t), ConfDir: conf, NoMasquerade: true})
	if err != nil {
		t.Fatal(err)
	}
	if n.Gateway() != "10.99.0.1" {
		t.Errorf("gateway %s", n.Gateway())
	}
	b, err := os.ReadFile(filepath.Join(conf, "esb.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	var cl struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
			IPMasq bool   `json:"ipMasq"`
			IPAM   struct {
				Type   string                `json:"type"`
				Ranges [][]map[string]string `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &cl); err != nil {
		t.Fatal(err)
	}
	if cl.Name != "esb" || len(cl.Plugins) != 2 || cl.Plugins[0].Type != "bridge" || cl.Plugins[0].Bridge != "esb0" ||
		cl.Plugins[0].IPMasq || cl.Plugins[0].IPAM.Type != "host-local" || cl.Plugins[0].IPAM.Ranges[0][0]["subnet"] != "10.99.0.0/24" ||
		cl.Plugins[1].Type != "portmap" {
		t.Fatalf("conflist:\n%s", b)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{Subnet: "10.88.0.0", PluginDir: fakePlugins(t)}); err == nil || !strings.Contains(err.Error(), "CNI_SUBNET") {
		t.Errorf("bad subnet: %v", err)
	}
	if _, err := New(Config{Subnet: "fd00::/64", PluginDir: fakePlugins(t)}); err == nil {
		t.Error("IPv6 subnet accepted")
	}
	if _, err := New(Config{PluginDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "containernetworking-plugins") {
		t.Errorf("missing plugins: %v", err)
	}
}
