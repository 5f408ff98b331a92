package dynamo

import (
	"fmt"
	"strings"
	"time"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvListen      = "ESB_DYNAMODB_LISTEN"
	EnvDataDir     = "ESB_DYNAMODB_DATA_DIR"
	EnvCredentials = "ESB_DYNAMODB_CREDENTIALS"
	EnvAccessKey   = "ESB_DYNAMODB_ACCESS_KEY_ID"
	EnvSecretKey   = "ESB_DYNAMODB_SECRET_ACCESS_KEY"
	EnvTTLInterval = "ESB_DYNAMODB_TTL_INTERVAL"
	EnvSync        = "ESB_DYNAMODB_SYNC"
	EnvRegion      = "AWS_REGION"
)

// DefaultDataDir is used when no data directory is configured.
const DefaultDataDir = ".esb/data/dynamodb"

// ConfigFromEnv returns a Config with defaults overridden by environment
// variables (getenv is os.Getenv in production).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{Addr: ":8001", DataDir: DefaultDataDir, Region: "us-east-1", TTLInterval: 5 * time.Second}
	if v := getenv(EnvListen); v != "" {
		cfg.Addr = v
	}
	if v := getenv(EnvDataDir); v != "" {
		cfg.DataDir = v
	}
	if v := getenv(EnvRegion); v != "" {
		cfg.Region = v
	} else if v := getenv("AWS_DEFAULT_REGION"); v != "" {
		cfg.Region = v
	}
	if v := getenv(EnvTTLInterval); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("%s=%q: not a positive duration (e.g. 5s)", EnvTTLInterval, v)
		}
		cfg.TTLInterval = d
	}
	if v := getenv(EnvSync); v != "" {
		noSync, err := ParseSync(v)
		if err != nil {
			return cfg, fmt.Errorf("%s: %w", EnvSync, err)
		}
		cfg.NoSync = noSync
	}
	creds, err := ParseCredentials(getenv(EnvCredentials))
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", EnvCredentials, err)
	}
	ak, sk := getenv(EnvAccessKey), getenv(EnvSecretKey)
	if (ak == "") != (sk == "") {
		return cfg, fmt.Errorf("%s and %s must be set together", EnvAccessKey, EnvSecretKey)
	}
	if ak != "" {
		if creds == nil {
			creds = map[string]string{}
		}
		creds[ak] = sk
	}
	cfg.Credentials = creds
	return cfg, nil
}

// ParseCredentials parses "AKID:SECRET[,AKID:SECRET...]".
func ParseCredentials(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		ak, sk, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok || ak == "" || sk == "" {
			return nil, fmt.Errorf("credential %q is not ACCESS_KEY_ID:SECRET_ACCESS_KEY", pair)
		}
		out[ak] = sk
	}
	return out, nil
}

// ParseSync parses a --sync value: "always" (every acknowledged write is on
// disk) or "off" (acknowledged writes reach the disk shortly after); it
// returns whether syncing is off.
func ParseSync(s string) (noSync bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "always":
		return false, nil
	case "off":
		return true, nil
	}
	return false, fmt.Errorf("sync %q: want always or off", s)
}
