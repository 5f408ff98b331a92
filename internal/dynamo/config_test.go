package dynamo

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		EnvListen: "127.0.0.1:9999", EnvDataDir: "/var/lib/x", "AWS_DEFAULT_REGION": "eu-west-1",
		EnvTTLInterval: "250ms", EnvCredentials: "A:a, B:b", EnvAccessKey: "C", EnvSecretKey: "c",
		EnvSync: "Off",
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9999" || cfg.DataDir != "/var/lib/x" || cfg.Region != "eu-west-1" || cfg.TTLInterval != 250*time.Millisecond || !cfg.NoSync {
		t.Fatalf("config: %+v", cfg)
	}
	if len(cfg.Credentials) != 3 || cfg.Credentials["B"] != "b" || cfg.Credentials["C"] != "c" {
		t.Fatalf("credentials: %v", cfg.Credentials)
	}
	def, err := ConfigFromEnv(func(string) string { return "" })
	if err != nil || def.Addr != ":8001" || def.Region != "us-east-1" || def.DataDir != DefaultDataDir || def.Credentials != nil || def.NoSync {
		t.Fatalf("defaults: %+v %v", def, err)
	}
	for k, v := range map[string]string{EnvTTLInterval: "soon", EnvCredentials: "nocolon", EnvAccessKey: "only-key", EnvSync: "sometimes"} {
		_, err := ConfigFromEnv(func(x string) string {
			if x == k {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: error %v should name the variable", k, v, err)
		}
	}
}
